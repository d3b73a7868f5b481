"""`hub init`: the hub's first start on a new machine: keys and database, idempotent."""

from __future__ import annotations

import click

from hub.commands import config_of, utc_now
from hub.first_start import initialise


@click.command("init")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Create the signing key and id-hash key if missing (mode 0600) and bring the database schema up.

    Existing keys are never replaced: kiosks trust the signing key, so replacing it is a key rotation
    (announced under the current key), not an init.
    """
    done = initialise(config_of(ctx), utc_now())
    made = "created, mode 0600" if done.signing_key_created else "kept"
    click.echo(f"signing key: {done.signing_key} ({made})")
    click.echo(f"public key for kiosk configs: {done.public_key}")
    if done.id_hash_key_created is not None:
        click.echo(f"id-hash key: {done.id_hash_key_created} (created, mode 0600; give it to every kiosk)")
    click.echo(f"database: {done.database} (migrations applied: {done.migrations or 'none'})")
