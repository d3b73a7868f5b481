"""`hub trust set SOURCE... | show`: the keys every kiosk trusts and what for (hub/trust.py)."""

from __future__ import annotations

import base64

import click

from common.clitools import emit, json_option
from hub import trust
from hub.commands import actor, database, utc_now
from wire.trustlist import default_purpose


@click.group("trust")
def group() -> None:
    """The trust list pushed to every kiosk: EU signer certificates (dcc), pass issuers' keys (pass)."""


@group.command("set")
@click.argument("sources", nargs=-1, required=True)
@click.pass_context
def set_(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Replace the list with the keys in SOURCES: [dcc:|pass:]PATH, each a PEM/DER file, a JSON DSC
    list of a national backend, or a directory of them (subdirectories dcc/ and pass/ set the purpose).
    Without a prefix a certificate is dcc and a bare public key pass. Unusable entries are skipped
    and listed; a file holding a private key refuses the whole command."""
    try:
        imported = trust.entries_from_paths(list(sources))
    except (trust.TrustListError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    version = trust.set_trust_list(
        database(ctx), imported.entries, actor=actor(), now=utc_now(), skipped=imported.skipped
    )
    counts = imported.counts()
    click.echo(
        f"trust list version {version}: {len(imported.entries)} keys (dcc {counts['dcc']},"
        f" pass {counts['pass']}), {len(imported.skipped)} skipped; the running hub publishes it"
    )
    for item in imported.skipped:
        click.echo(f"skipped {item}")


@group.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """The current list: purpose, kind, country and SHA-256 fingerprint of each key, then the skipped."""
    current = trust.current_trust_list(database(ctx))
    if current is None:
        click.echo("no trust list yet (kiosks use their provisioned keys only)")
        return
    version, payload = current
    rows = [
        {
            "version": version,
            "purpose": k.get("purpose") or default_purpose(k["kind"]),
            "kind": k["kind"],
            "country": k.get("country", ""),
            "fingerprint": trust.fingerprint(base64.b64decode(k["der"])),
        }
        for k in payload["keys"]
    ]
    rows += [
        {
            "version": version,
            "purpose": "skipped",
            "kind": s.get("source"),
            "country": "",
            "fingerprint": s.get("reason"),
        }
        for s in payload.get("skipped", [])
    ]
    emit(rows, ["version", "purpose", "kind", "country", "fingerprint"], as_json)
