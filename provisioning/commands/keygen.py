"""`provision kiosk keygen KIOSK_ID --out DIR`: run ON the kiosk. The key pair is made here and never leaves.

Writes DIR/kiosk.key (mode 0600; an existing key is kept, so running it twice is harmless) and
DIR/kiosk.csr (Common Name = the kiosk id), which goes to the hub for `provision kiosk sign`.
"""

from __future__ import annotations

from pathlib import Path

import click

from kiosk.device_identity import KEY_FILE, ensure_key, make_csr
from provisioning.commands import fail, log
from provisioning.inventory import check_kiosk_id

CSR_FILE = "kiosk.csr"


@click.command("keygen")
@click.argument("kiosk_id")
@click.option(
    "--out",
    "out",
    default="/etc/kiosk",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the kiosk's config directory (where the bundle will be installed)",
)
def command(kiosk_id: str, out: Path) -> None:
    """Make the kiosk's key (0600) and a signing request for KIOSK_ID."""
    if reason := check_kiosk_id(kiosk_id):
        fail(reason)
    existed = (out / KEY_FILE).exists()
    try:
        key = ensure_key(out)
        csr = make_csr(key, kiosk_id)
        (out / CSR_FILE).write_bytes(csr)
    except PermissionError as exc:
        fail(str(exc))
    except (OSError, ValueError) as exc:
        fail(f"cannot write the kiosk key in {out}: {exc}")
    log.info("kiosk key %s in %s", "kept" if existed else "created", out)
    click.echo(f"key:  {out / KEY_FILE} ({'kept' if existed else 'created'}, mode 0600, stays on this kiosk)")
    click.echo(f"csr:  {out / CSR_FILE} (send this to the hub: provision kiosk sign --csr ... --token ...)")
