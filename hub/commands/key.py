"""`hub key rotate | status | commit`: rotate the hub's signing key (see hub/key_rotation.py)."""

from __future__ import annotations

import click

from common.clitools import emit
from hub import key_rotation
from hub.commands import config_of, database, utc_now


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
    progress = key_rotation.rotation_progress(
        database(ctx), config.signing_key, now=utc_now(), stale_after_s=config.stale_after_s
    )
    if progress is None:
        click.echo("no key rotation in progress")
        return
    emit([k.__dict__ for k in progress.kiosks], ["kiosk_id", "state", "trusts_next_key"], False)
    trusting = len(progress.kiosks) - len(progress.missing)
    click.echo(f"{trusting} of {len(progress.kiosks)} kiosks trust {progress.announcement.next_kid}")


@group.command("commit")
@click.option("--force", is_flag=True, help="switch even though some kiosks do not trust the next key yet")
@click.pass_context
def commit(ctx: click.Context, force: bool) -> None:
    """Make the next key the signing key (then restart the hub)."""
    config = config_of(ctx)
    try:
        kid = key_rotation.commit_when_ready(
            database(ctx), config.signing_key, now=utc_now(), stale_after_s=config.stale_after_s, force=force
        )
    except (key_rotation.RotationNotStarted, key_rotation.KiosksNotReady) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"signing key is now {kid}; restart the hub (systemctl restart hub)")
