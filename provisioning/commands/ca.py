"""`provision ca create` / `provision ca import`: the hub's certificate authority (key mode 0600)."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.hazmat.primitives import hashes

from provisioning.ca import CA_KEY, CertificateAuthority
from provisioning.commands import dir_option, fail, log, read_input


def _describe(ca: CertificateAuthority) -> None:
    fingerprint = ca.cert.fingerprint(hashes.SHA256()).hex(":")
    click.echo(f"CA certificate: {ca.cert_path}")
    click.echo(f"CA key:         {ca.directory / CA_KEY} (mode 0600)")
    click.echo(f"SHA-256:        {fingerprint}")
    click.echo(f"valid until:    {ca.cert.not_valid_after_utc:%Y-%m-%d}")


@click.command("create")
@dir_option
@click.option("--name", default="Checkpoint Hub CA", show_default=True, help="the CA's Common Name")
@click.option("--days", default=3650, show_default=True, type=click.IntRange(1, 36500), help="validity")
def create(directory: Path, name: str, days: int) -> None:
    """Create a new CA in --dir (refuses to replace an existing one)."""
    if (directory / CA_KEY).exists():
        fail(f"{directory / CA_KEY} exists: refusing to replace a CA (every kiosk certificate depends on it)")
    if not name.strip():
        fail("--name must not be empty")
    try:
        ca = CertificateAuthority.create(directory, name=name, days=days)
    except OSError as exc:
        fail(f"cannot create the CA in {directory}: {exc}")
    log.info("created CA %r in %s", name, directory)
    _describe(ca)


@click.command("import")
@dir_option
@click.option(
    "--cert", "cert_path", required=True, type=click.Path(path_type=Path), help="CA certificate (PEM)"
)
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path), help="CA key (PEM, EC)")
def import_(directory: Path, cert_path: Path, key_path: Path) -> None:
    """Adopt an existing CA (an organisation's own): the key is copied with mode 0600."""
    if (directory / CA_KEY).exists():
        fail(f"{directory / CA_KEY} exists: refusing to replace a CA")
    cert_pem = read_input(cert_path, "--cert")
    key_pem = read_input(key_path, "--key")
    try:
        ca = CertificateAuthority.import_existing(directory, cert_pem, key_pem)
    except (ValueError, TypeError) as exc:
        # cryptography's messages for unparseable PEM are long and multi-line; say which file.
        text = str(exc)
        if "does not match" in text or "only EC" in text:
            fail(f"cannot import: {text}")
        fail(f"cannot import: {cert_path} must be a PEM certificate and {key_path} an unencrypted PEM key")
    except OSError as exc:
        fail(f"cannot import into {directory}: {exc}")
    log.info("imported CA into %s", directory)
    _describe(ca)
