"""`provision pass batch --csv people.csv --out-dir DIR`: one QR per CSV row, and a manifest.

CSV (UTF-8, a header row): `id,name,dob` and optionally `valid_days` (else --valid-days),
`zones` (separated by ';') and `plate`. A bad row is reported with its line number and skipped;
the others are written; the exit code is 1 if any row failed. DIR/manifest.csv lists what was
written: line, file, pass id (for revocation), id number, validity and QR symbol. Files are named
by line and pass id, never by name or id number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import click

from provisioning import commands
from provisioning.commands import fail, load_issuer, log, note, read_input
from provisioning.commands.pass_mint import (
    ec_option,
    issuer_key_option,
    issuer_option,
    scale_option,
    valid_from_option,
)
from provisioning.passfields import PassFieldError, check_fields, mint_request
from provisioning.qr import ErrorLevel, write_qr
from wire.passes import PassFormatError

REQUIRED = ("id", "name", "dob")
OPTIONAL = ("valid_days", "zones", "plate")
COLUMNS = ",".join(REQUIRED + OPTIONAL)
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ["line", "file", "pass_id", "id", "valid_from", "valid_until", "qr"]


@click.command("batch")
@issuer_key_option
@issuer_option
@click.option("--csv", "csv_path", required=True, type=click.Path(path_type=Path), help="people, one per row")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", default="png", show_default=True, type=click.Choice(["png", "svg"]))
@click.option("--valid-days", default=None, type=int, help="for rows without a valid_days cell")
@valid_from_option
@ec_option
@scale_option
def command(
    issuer_key_path: Path,
    issuer: str,
    csv_path: Path,
    out_dir: Path,
    fmt: str,
    valid_days: int | None,
    valid_from: dt.datetime | None,
    error_level: ErrorLevel,  # click.Choice returns the choice as listed, whatever the case typed
    scale: int,
) -> None:
    """Mint a pass for every row of --csv into --out-dir, with a manifest."""
    raw = read_input(csv_path, "--csv", limit=64 << 20)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(f"--csv {csv_path}: not UTF-8 text (save it as CSV UTF-8)")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        fail(f"--csv {csv_path}: empty file (expected a header row: {','.join(REQUIRED)})")
    if missing := [c for c in REQUIRED if c not in header]:
        fail(f"--csv {csv_path}: header lacks {', '.join(missing)} (columns: {COLUMNS})")
    if unknown := [c for c in header if c not in REQUIRED + OPTIONAL]:
        fail(f"--csv {csv_path}: unknown columns {', '.join(unknown)} (columns: {COLUMNS})")
    if len(set(header)) != len(header):
        fail(f"--csv {csv_path}: a column appears twice in the header")
    if "valid_days" not in header and valid_days is None:
        fail("give --valid-days or a valid_days column")
    reader.fieldnames = header
    key = load_issuer(issuer_key_path, issuer)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out-dir {out_dir}: {exc}")
    now = commands.utc_now()
    start = valid_from or now
    written: list[dict[str, object]] = []
    failed = 0
    for row in reader:
        line = reader.line_num
        try:
            if None in row:
                raise PassFieldError(f"{len(header) + len(row[None])} cells, the header has {len(header)}")
            if any(row[c] is None for c in header):
                raise PassFieldError(f"fewer cells than the header's {len(header)}")
            days = (row.get("valid_days") or "").strip() or valid_days
            if days is None:
                raise PassFieldError("valid_days is empty and no --valid-days was given")
            request = check_fields(
                row["id"], row["name"], row["dob"], days, now.date(), row.get("zones") or "", row.get("plate")
            )
            qr_text, pass_id = mint_request(key, request, start)
            path = out_dir / f"{line:05d}-{pass_id.hex()}.{fmt}"
            symbol = write_qr(qr_text, path, error_level, scale)
        except (PassFieldError, PassFormatError) as exc:
            failed += 1
            reason = exc.reason if isinstance(exc, PassFormatError) else str(exc)
            note(f"{csv_path} line {line}: {reason} (skipped)")
            continue
        except OSError as exc:
            fail(f"cannot write into {out_dir}: {exc}")
        log.info("minted pass %s (issuer %s, line %d)", pass_id.hex(), issuer, line)
        written.append(
            {
                "line": line,
                "file": path.name,
                "pass_id": pass_id.hex(),
                "id": request.id_number,
                "valid_from": start.isoformat(timespec="seconds"),
                "valid_until": (start + dt.timedelta(days=request.valid_days)).isoformat(timespec="seconds"),
                "qr": symbol,
            }
        )
    manifest = out_dir / MANIFEST
    with manifest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(written)
    click.echo(f"wrote {len(written)} passes to {out_dir}, manifest {manifest}")
    if failed:
        fail(f"{failed} of {failed + len(written)} rows failed (listed above) and were skipped")
    if not written:
        fail(f"--csv {csv_path}: no rows")
