"""`hub init`: the hub's first start on a new machine: keys and database, idempotent."""

from __future__ import annotations

import secrets

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private, write_private_key
from hub.commands import config_of, utc_now
from hub.db import open_database
from hub.flag_publisher import load_signing_key, write_public_key
from hub.schema import migrate


@click.command("init")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Create the signing key and id-hash key if missing (mode 0600) and bring the database schema up.

    Existing keys are never replaced: kiosks trust the signing key, so replacing it is a key rotation
    (announced under the current key), not an init.
    """
    config = config_of(ctx)
    if config.signing_key.exists():
        key = load_signing_key(config.signing_key)
        click.echo(f"signing key: {config.signing_key} (kept)")
    else:
        key = Ed25519PrivateKey.generate()
        write_private_key(config.signing_key, key)
        click.echo(f"signing key: {config.signing_key} (created, mode 0600)")
    public = write_public_key(config.signing_key, key)
    click.echo(f"public key for kiosk configs: {public}")
    if config.flag_key_file is not None and not config.flag_key_file.exists():
        write_private(config.flag_key_file, secrets.token_hex(32).encode() + b"\n")
        click.echo(f"id-hash key: {config.flag_key_file} (created, mode 0600; give it to every kiosk)")
    applied = migrate(open_database(config.database_url), utc_now())
    click.echo(f"database: {config.database_url.split('@')[-1]} (migrations applied: {applied or 'none'})")
