"""`provision broker config --out DIR`: Mosquitto's config, ACL, CA copy, CRL and server certificate,
generated from the registry (provisioning/broker.py). The settings used are recorded, so that
`provision kiosk decommission` rewrites the same files the same way.
"""

from __future__ import annotations

from pathlib import Path

import click

from provisioning.broker import BrokerSettings, write_broker_config
from provisioning.commands import dir_option, fail, log, open_ca, open_registry
from provisioning.inventory import ACTIVE, DECOMMISSIONED, PENDING, BrokerRecord


@click.command("config")
@dir_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the broker's directory (mosquitto.conf, acl, certificates)  [default: the last one used]",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="TLS listener port  [default: 8883]"
)
@click.option("--bind", "bind_address", default=None, help="listen on this address only  [default: all]")
@click.option(
    "--hostname",
    "hostnames",
    multiple=True,
    help="name or address kiosks use for the broker (repeatable; the kiosks' --broker hosts are added)",
)
@click.option(
    "--hub-user",
    "hub_users",
    multiple=True,
    help="certificate CN of a hub connection (repeatable)  [default: what `provision hub certs` issued]",
)
@click.option("--owner", default=None, help="the user Mosquitto runs as, e.g. mosquitto (needs root)")
@click.option(
    "--persistence-dir",
    default=None,
    help="where the broker saves sessions and queued messages, e.g. /var/lib/mosquitto (writable under "
    "the systemd drop-in; /etc is not)  [default: the last one used, else OUT/data]",
)
def command(
    directory: Path,
    out: Path | None,
    port: int | None,
    bind_address: str | None,
    hostnames: tuple[str, ...],
    hub_users: tuple[str, ...],
    owner: str | None,
    persistence_dir: str | None,
) -> None:
    """(Re)generate the broker's files from the provisioned kiosks."""
    ca = open_ca(directory)
    registry = open_registry(directory, create=True)
    previous = registry.broker()
    base = previous.settings if previous else BrokerSettings()
    out = out or (previous.directory if previous else None)
    if out is None:
        fail("--out is needed the first time (the broker's directory, e.g. /etc/mosquitto/checkpoint)")
    active = registry.ids(PENDING, ACTIVE)
    names = list(dict.fromkeys(hostnames or base.hostnames))
    for kiosk_id in active:  # the name each kiosk was told to connect to must be in the server certificate
        record = registry.get(kiosk_id)
        if record is not None and record.broker_host not in names:
            names.append(record.broker_host)
    settings = BrokerSettings(
        port=port or base.port,
        bind_address=bind_address or base.bind_address,
        hostnames=tuple(names),
        # Named here > issued by `provision hub certs` > as last written > "hub".
        hub_users=tuple(dict.fromkeys(hub_users)) or registry.hub_identities() or base.hub_users,
        pin_client_ids=base.pin_client_ids,
        persistence=base.persistence,
        persistence_dir=persistence_dir or base.persistence_dir,
        max_queued_messages=base.max_queued_messages,
    )
    owner = owner or (previous.owner if previous else None)
    try:
        files = write_broker_config(out, ca, active, settings, registry.ids(DECOMMISSIONED), owner)
    except KeyError:
        fail(f"--owner {owner}: no such user")
    except (ValueError, OSError) as exc:
        fail(f"cannot write the broker config: {exc}")
    registry.set_broker(BrokerRecord(files.directory, settings, owner))
    log.info("broker config written to %s for %d kiosks", files.directory, len(active))
    click.echo(f"broker config: {files.conf}")
    denied = len(registry.ids(DECOMMISSIONED))
    click.echo(f"acl:           {files.acl} (kiosks: {len(active)} enrolled, {denied} denied)")
    click.echo(f"server cert:   {files.certfile} for {', '.join(settings.hostnames)}")
    click.echo("then: systemctl restart mosquitto (a new CRL or ACL needs it, see docs/broker.md)")
