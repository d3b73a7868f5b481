"""`provision issuer create --name ISSUER --out DIR`: a pass issuer's key pair.

DIR/<kid>.key.pem is the private key (mode 0600: whoever holds it can mint passes every kiosk
accepts); DIR/<kid>.pub.pem is what kiosks trust (`provision kiosk sign --trust`, or copy it into
the provisioning directory's trust/).
"""

from __future__ import annotations

from pathlib import Path

import click

from provisioning.commands import fail, log
from provisioning.issuer import IssuerAlg, create_issuer_key, save_issuer_key


@click.command("create")
@click.option("--name", "issuer", required=True, help="issuer name written into every pass, e.g. VN-HN")
@click.option("--alg", default="Ed25519", show_default=True, type=click.Choice(["Ed25519", "ES256"]))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="key directory")
def create(issuer: str, alg: IssuerAlg, out: Path) -> None:  # alg: click.Choice checked it
    """Create an issuer key pair (private key mode 0600)."""
    if not 0 < len(issuer.strip()) <= 64 or issuer != issuer.strip():
        fail("--name must be 1..64 characters without surrounding spaces")
    key = create_issuer_key(issuer, alg)
    try:
        private_path, public_path = save_issuer_key(key, out)
    except OSError as exc:
        fail(f"cannot write the issuer key to {out}: {exc}")
    log.info("created %s issuer key %s for %s", alg, key.kid.hex(), issuer)
    click.echo(f"issuer:      {issuer} ({alg}, kid {key.kid.hex()})")
    click.echo(f"private key: {private_path} (mode 0600; mints passes: keep it safe)")
    click.echo(f"public key:  {public_path} (for kiosks' trust list)")
