"""`provision pass mint ... --out FILE.png|.svg`: one signed checkpoint pass (VNP1) as a QR image.

The person's name and id number go into the pass and nowhere else: not into the log, not onto
the terminal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from provisioning import commands
from provisioning.commands import Day, fail, load_issuer, log
from provisioning.passfields import PassFieldError, check_fields, mint_request
from provisioning.qr import ErrorLevel, write_qr
from wire.passes import PassFormatError

issuer_key_option = click.option(
    "--issuer-key",
    "issuer_key_path",
    required=True,
    type=click.Path(path_type=Path),
    help="the issuer's private key (<kid>.key.pem from `provision issuer create`)",
)
issuer_option = click.option("--issuer", required=True, help="issuer name, as given to `issuer create`")
valid_from_option = click.option("--valid-from", type=Day(), default=None, help="YYYY-MM-DD  [default: now]")
ec_option = click.option(
    "--ec",
    "error_level",
    default="M",
    show_default=True,
    type=click.Choice(["M", "Q"], case_sensitive=False),
    help="QR error correction: M (smaller) or Q (survives more damage)",
)
scale_option = click.option(
    "--scale", default=8, show_default=True, type=click.IntRange(1, 40), help="px/module"
)


@click.command("mint")
@issuer_key_option
@issuer_option
@click.option("--id", "id_number", required=True, help="the person's 12-digit id number")
@click.option("--name", required=True, help="the person's full name")
@click.option("--dob", required=True, help="date of birth, YYYY-MM-DD")
@click.option("--valid-days", required=True, type=int, help="days the pass is valid")
@valid_from_option
@click.option("--zone", "zones", multiple=True, help="restrict to a checkpoint zone (repeatable)")
@click.option("--plate", default=None, help="vehicle plate (green-lane trucks)")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.png or FILE.svg"
)
@ec_option
@scale_option
def command(
    issuer_key_path: Path,
    issuer: str,
    id_number: str,
    name: str,
    dob: str,
    valid_days: int,
    valid_from: dt.datetime | None,
    zones: tuple[str, ...],
    plate: str | None,
    out: Path,
    error_level: ErrorLevel,  # click.Choice returns the choice as listed, whatever the case typed
    scale: int,
) -> None:
    """Mint one pass and write it as a QR image."""
    if out.suffix.lower() not in (".png", ".svg"):
        fail(f"--out {out}: the file name must end in .png or .svg")
    if not out.parent.is_dir():
        fail(f"--out {out}: directory {out.parent} does not exist")
    key = load_issuer(issuer_key_path, issuer)
    now = commands.utc_now()
    start = valid_from or now
    try:
        request = check_fields(id_number, name, dob, valid_days, now.date(), zones, plate)
        text, pass_id = mint_request(key, request, start)
    except PassFieldError as exc:
        fail(str(exc))
    except PassFormatError as exc:
        fail(f"cannot mint this pass: {exc.reason}")
    try:
        symbol = write_qr(text, out, error_level, scale)
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    until = start + dt.timedelta(days=request.valid_days)
    log.info("minted pass %s (issuer %s, QR %s)", pass_id.hex(), issuer, symbol)
    click.echo(f"wrote {out}: pass id {pass_id.hex()}, valid until {until:%Y-%m-%d %H:%M} UTC, QR {symbol}")
