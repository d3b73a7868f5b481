"""`provision kiosk decommission KIOSK_ID`: revoke its certificates, deny it at the broker, restart that.

Uses provisioning.broker.decommission when a broker config has been written (`provision broker
config`): revocation, new CRL, a deny-all ACL block, broker restart. Without one, the certificates
are still revoked and the CRL rewritten. Its unused enrollment tokens stop working too, and the id
cannot be enrolled again without --force.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import click

from provisioning import commands
from provisioning.broker import decommission, write_broker_config
from provisioning.commands import dir_option, fail, log, note, open_book, open_ca, open_registry
from provisioning.inventory import ACTIVE, DECOMMISSIONED, PENDING


@click.command("decommission")
@dir_option
@click.argument("kiosk_id")
@click.option(
    "--restart-cmd",
    default="systemctl restart mosquitto",
    show_default=True,
    help="how this host restarts the broker (a restart, not a reload, closes the kiosk's live session)",
)
@click.option("--no-restart", is_flag=True, help="do not restart the broker (do it yourself, soon)")
def command(directory: Path, kiosk_id: str, restart_cmd: str, no_restart: bool) -> None:
    """Revoke KIOSK_ID's certificates and shut it out of the broker."""
    registry = open_registry(directory)
    record = registry.get(kiosk_id)
    if record is None:
        fail(f"unknown kiosk {kiosk_id!r} (see `provision kiosk list`)")
    if record.status == DECOMMISSIONED:
        fail(f"{kiosk_id} is already decommissioned (since {record.decommissioned_at})")
    ca = open_ca(directory)
    now = commands.utc_now()
    certs = registry.certificates(kiosk_id)
    open_book(directory).cancel(kiosk_id, now)
    broker = registry.broker()
    active = registry.ids(PENDING, ACTIVE)
    gone = registry.ids(DECOMMISSIONED)
    restart_problem: list[str] = []

    def restart() -> None:
        if no_restart:
            return
        try:
            subprocess.run(shlex.split(restart_cmd), check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as exc:
            err = exc.stderr.decode(errors="replace").strip().splitlines()
            restart_problem.append(f"exit {exc.returncode}{': ' + err[-1] if err else ''}")
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            restart_problem.append(str(exc))

    error: str | None = None
    try:
        if broker is not None and certs:
            decommission(certs, ca, broker.directory, active, restart, broker.settings, gone, broker.owner)
        else:
            for cert in certs:
                ca.revoke(cert, reason="decommissioned")
            if broker is not None:  # never had a certificate: only the ACL changes, no session to cut
                files = set(active) - {kiosk_id}
                write_broker_config(
                    broker.directory, ca, files, broker.settings, {*gone, kiosk_id}, broker.owner
                )
    except (ValueError, OSError, KeyError) as exc:
        error = str(exc)
    revoked = ca.revoked_serials()
    done = [c for c in certs if c.serial_number in revoked]
    registry.mark_revoked(done, now)
    if len(done) == len(certs):
        registry.set_status(kiosk_id, DECOMMISSIONED, now)
    if error is not None:
        fail(f"{kiosk_id}: {len(done)} of {len(certs)} certificates revoked, then: {error}")
    log.info("decommissioned kiosk %s: %d certificates revoked", kiosk_id, len(done))
    click.echo(f"decommissioned {kiosk_id}: {len(done)} certificate(s) revoked, CRL {ca.crl_path}")
    if broker is None:
        note(
            "warning: no broker config recorded: run `provision broker config --out DIR` "
            "(or copy the CRL to the broker) and restart the broker"
        )
    elif no_restart:
        note("warning: broker not restarted: a connected kiosk stays connected until it is")
    if restart_problem:
        fail(f"{kiosk_id} is revoked and denied, but the broker restart failed ({restart_problem[0]})")
