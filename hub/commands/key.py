"""`hub key rotate | status | commit`: rotate the hub's signing key (see hub/key_rotation.py)."""

from __future__ import annotations

import click

from common.clitools import emit
from hub import key_rotation
from hub.commands import config_of, database, utc_now
from hub.fleet import fleet_view


@click.group("key")
def group() -> None:
    """Rotate the hub's signing key: announce under the current key, wait for every kiosk, switch."""


@group.command("rotate")
@click.pass_context
def rotate(ctx: click.Context) -> None:
    """Make the next key and announce it (signed by the current key); the running hub publishes it."""
    config = config_of(ctx)
    a = key_rotation.prepare_rotation(database(ctx), config.signing_key, utc_now())
    click.echo(f"next key {a.next_kid} announced (rotation {a.version}); the running hub sends it to kiosks.")
    click.echo("When `hub key status` shows every kiosk trusts it: `hub key commit`, then restart the hub.")


@group.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Which kiosks trust the announced next key."""
    config = config_of(ctx)
    a = key_rotation.load_announcement(config.signing_key)
    if a is None:
        click.echo("no key rotation in progress")
        return
    fleet = fleet_view(database(ctx), now=utc_now(), stale_after_s=config.stale_after_s)
    missing = set(key_rotation.kiosks_without(fleet, a.next_kid))
    rows = [
        {"kiosk_id": k["kiosk_id"], "state": k["state"], "trusts_next_key": k["kiosk_id"] not in missing}
        for k in fleet
    ]
    emit(rows, ["kiosk_id", "state", "trusts_next_key"], False)
    click.echo(f"{len(fleet) - len(missing)} of {len(fleet)} kiosks trust {a.next_kid}")


@group.command("commit")
@click.option("--force", is_flag=True, help="switch even though some kiosks do not trust the next key yet")
@click.pass_context
def commit(ctx: click.Context, force: bool) -> None:
    """Make the next key the signing key (then restart the hub)."""
    config = config_of(ctx)
    a = key_rotation.load_announcement(config.signing_key)
    if a is None:
        raise click.ClickException("no key rotation in progress (run `hub key rotate` first)")
    fleet = fleet_view(database(ctx), now=utc_now(), stale_after_s=config.stale_after_s)
    missing = key_rotation.kiosks_without(fleet, a.next_kid)
    if missing and not force:
        raise click.ClickException(
            f"{len(missing)} kiosk(s) do not trust the next key yet ({', '.join(missing[:10])}); "
            "they would reject every flag update. Wait, or --force (they then need re-provisioning)."
        )
    kid = key_rotation.commit_rotation(config.signing_key)
    click.echo(f"signing key is now {kid}; restart the hub (systemctl restart hub)")
