"""`provision kiosk sign --csr F --token T`: spend the kiosk's token, sign its CSR, write its config bundle.

Everything that could make the bundle fail (hub key, trust files, destination, the generated
kiosk.toml) is checked before the token is spent, so a typo does not cost the installer a token;
the CSR's name is checked by the CA against the kiosk the token was issued for.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import click
from cryptography.hazmat.primitives import serialization

from common.flagkey import read_flag_key
from provisioning import commands
from provisioning.bundle import (
    FLAG_KEY_FILE,
    HUB_KEY_FILE,
    TRUST_DIR,
    BundleError,
    bundle_files,
    check_destination,
    collect_trust,
    hub_public_key,
    write_bundle,
)
from provisioning.ca import CsrRejected
from provisioning.commands import dir_option, fail, log, note, open_book, open_ca, open_registry, read_input
from provisioning.enrollment import EnrollmentRefused
from provisioning.inventory import ACTIVE, DECOMMISSIONED


@click.command("sign")
@dir_option
@click.option(
    "--csr", "csr_path", required=True, type=click.Path(path_type=Path), help="the kiosk's kiosk.csr"
)
@click.option(
    "--token",
    envvar="PROVISION_TOKEN",
    prompt="enrollment token",
    hide_input=True,
    help="the one-time token from `provision kiosk enroll` (or $PROVISION_TOKEN; asked for if absent)",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="bundle directory, or FILE.tar.gz  [default: ./<kiosk-id>-bundle]",
)
@click.option(
    "--hub-key",
    "hub_key_path",
    type=click.Path(path_type=Path),
    default=None,
    help=f"the hub's public signing key (PEM)  [default: DIR/{HUB_KEY_FILE}]",
)
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    metavar="[dcc:|pass:]PATH",
    help="issuer public keys, EU signer certificates, DSC lists, or a directory of them; a dcc:/pass: prefix"
    f" sets their purpose (repeatable)  [default: DIR/{TRUST_DIR}/]",
)
@click.option(
    "--flag-key",
    "flag_key_path",
    type=click.Path(path_type=Path),
    default=None,
    help=f"the deployment's id-hash key (the hub's flag_key_file)  [default: DIR/{FLAG_KEY_FILE} if present]",
)
@click.option(
    "--install-dir",
    default="/etc/kiosk",
    show_default=True,
    help="where the kiosk installs the bundle (paths in kiosk.toml point there)",
)
@click.option(
    "--days", default=365, show_default=True, type=click.IntRange(1, 3650), help="certificate validity"
)
def command(
    directory: Path,
    csr_path: Path,
    token: str,
    out: Path | None,
    hub_key_path: Path | None,
    trust_paths: tuple[str, ...],
    flag_key_path: Path | None,
    install_dir: str,
    days: int,
) -> None:
    """Redeem TOKEN, sign the kiosk's CSR and write its config bundle (no private key in it)."""
    csr_pem = read_input(csr_path, "--csr")
    ca = open_ca(directory)
    registry = open_registry(directory)
    book = open_book(directory)
    kiosk_id = book.kiosk_for(token.strip())
    if kiosk_id is None:
        fail("unknown enrollment token: check it, or issue a new one with `provision kiosk enroll`")
    record = registry.get(kiosk_id)
    if record is None or record.status == DECOMMISSIONED:
        fail(f"{kiosk_id} is decommissioned: enroll it again (--force) for a new token")
    now = commands.utc_now()

    hub_key_path = hub_key_path or directory / HUB_KEY_FILE
    if hub_key_path == directory / HUB_KEY_FILE and not hub_key_path.exists():
        fail(
            f"no hub public key: pass --hub-key (the .pub.pem `hub init` wrote) or copy it to {hub_key_path}"
        )
    default_trust = directory / TRUST_DIR
    sources: tuple[str | Path, ...] = trust_paths or ((default_trust,) if default_trust.is_dir() else ())
    out = out or Path(f"{kiosk_id}-bundle")
    ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM)
    try:
        hub_pem = hub_public_key(read_input(hub_key_path, "--hub-key"), str(hub_key_path))
        trust = collect_trust(sources)
        flag_key_path = flag_key_path or (
            directory / FLAG_KEY_FILE if (directory / FLAG_KEY_FILE).exists() else None
        )
        flag_key = read_flag_key(flag_key_path) if flag_key_path else None
        check_destination(out)
        # A dry run with the CA certificate standing in for the kiosk's: everything but the CSR is checked.
        bundle_files(
            record,
            cert_pem=ca_pem,
            ca_pem=ca_pem,
            hub_key_pem=hub_pem,
            trust=trust,
            install_dir=PurePosixPath(install_dir),
            issued_at=now,
            flag_key=flag_key,
        )
    except (BundleError, OSError, ValueError) as exc:
        fail(str(exc))

    try:
        enrollment = book.redeem(token.strip(), kiosk_id, csr_pem, ca, now, days=days)
    except CsrRejected as exc:
        fail(f"CSR refused: {exc} (the token is still valid)")
    except EnrollmentRefused as exc:
        fail(str(exc))
    cert = enrollment.certificate
    registry.add_certificate(kiosk_id, cert)
    registry.set_status(kiosk_id, ACTIVE, now)
    log.info(
        "signed certificate %x for kiosk %s, valid until %s",
        cert.serial_number,
        kiosk_id,
        cert.not_valid_after_utc,
    )
    files = bundle_files(
        record,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        ca_pem=ca_pem,
        hub_key_pem=hub_pem,
        trust=trust,
        install_dir=PurePosixPath(install_dir),
        issued_at=now,
        flag_key=flag_key,
    )
    try:
        write_bundle(out, files, now)
    except OSError as exc:
        fail(f"certificate issued, but the bundle could not be written to {out}: {exc}")
    if not trust:
        note("warning: no issuer keys in the bundle (--trust): the kiosk will refuse every signed pass")
    until = f"{cert.not_valid_after_utc:%Y-%m-%d}"
    click.echo(f"signed {kiosk_id}: certificate {cert.serial_number:x}, valid until {until}")
    click.echo(
        f"bundle: {out} ({len(files)} files, no private key); install it into {install_dir} on the kiosk"
    )
