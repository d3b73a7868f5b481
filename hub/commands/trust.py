"""`hub trust set PATH... | show`: the issuers' keys every kiosk trusts, pushed by the hub (hub/trust.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import click

from hub import trust
from hub.commands import actor, database, utc_now
from kiosk.clitools import emit, json_option


@click.group("trust")
def group() -> None:
    """The trust list: issuer public keys and signer certificates pushed to every kiosk (signed)."""


@group.command("set")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def set_(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Replace the list with the keys and certificates in PATHS (files or directories)."""
    try:
        entries = trust.entries_from_paths(list(paths))
    except (trust.TrustListError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    version = trust.set_trust_list(database(ctx), entries, actor=actor(), now=utc_now())
    click.echo(f"trust list version {version}: {len(entries)} keys; the running hub publishes it")


@group.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """The current list: kind and SHA-256 fingerprint of each key."""
    current = trust.current_trust_list(database(ctx))
    if current is None:
        click.echo("no trust list yet (kiosks use their provisioned keys only)")
        return
    version, payload = current
    rows = [
        {"version": version, "kind": k["kind"], "fingerprint": trust.fingerprint(base64.b64decode(k["der"]))}
        for k in payload["keys"]
    ]
    emit(rows, ["version", "kind", "fingerprint"], as_json)
