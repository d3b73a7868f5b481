"""Subcommands of `provision` and the small helpers they share.

Errors an operator can cause (a missing file, a wrong token, a bad CSV row) end in one line on
stderr and a non-zero exit, never a traceback: `fail()` raises click's ClickException (exit 1).
Nothing secret and nothing personal (tokens, keys, names, id numbers) is logged at INFO or above.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click

from provisioning.ca import CA_KEY, CertificateAuthority
from provisioning.enrollment import EnrollmentBook
from provisioning.issuer import IssuerKey, load_issuer_key
from provisioning.registry import DB_FILE, KioskRegistry

log = logging.getLogger("provisioning.cli")

DEFAULT_DIR = "/var/lib/provision"


def utc_now() -> dt.datetime:
    """The one clock read of the CLI (tests replace it)."""
    return dt.datetime.now(dt.UTC)


def fail(message: str) -> NoReturn:
    """End the command with a one-line error on stderr and exit code 1."""
    raise click.ClickException(message.replace("\n", " "))


dir_option = click.option(
    "--dir",
    "directory",
    envvar="PROVISION_DIR",
    default=DEFAULT_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="provisioning directory: CA, kiosk registry, enrollment tokens ($PROVISION_DIR)",
)


def read_input(path: Path, what: str, limit: int = 1 << 20) -> bytes:
    """Read a file the operator named, or fail with one line saying which and why."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        fail(f"{what} {path}: no such file")
    except IsADirectoryError:
        fail(f"{what} {path}: is a directory, expected a file")
    except OSError as exc:
        fail(f"{what} {path}: cannot read ({exc.strerror})")
    if len(data) > limit:
        fail(f"{what} {path}: larger than {limit} bytes")
    return data


def open_ca(directory: Path) -> CertificateAuthority:
    if not (directory / CA_KEY).exists():
        fail(f"no CA in {directory}: run `provision ca create --dir {directory}` first (or set --dir)")
    try:
        return CertificateAuthority.load(directory)
    except (OSError, ValueError) as exc:
        fail(f"cannot load the CA in {directory}: {exc}")


def open_registry(directory: Path, create: bool = False) -> KioskRegistry:
    path = directory / DB_FILE
    if not path.exists() and not create:
        fail(f"no kiosk registry in {directory}: enroll a kiosk first (or set --dir)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return KioskRegistry(path)
    except OSError as exc:
        fail(f"cannot open the kiosk registry in {directory}: {exc}")


def open_book(directory: Path) -> EnrollmentBook:
    return EnrollmentBook(directory / DB_FILE)


class Duration(click.ParamType):
    """30m, 24h, 90s, 7d."""

    name = "duration"
    _UNITS: ClassVar[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", str(value).strip())
        if not m or float(m.group(1)) <= 0:
            self.fail(f"{value!r}: use a number and a unit, e.g. 30m, 24h, 7d", param, ctx)
        return dt.timedelta(seconds=float(m.group(1)) * self._UNITS[m.group(2)])


def emit(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """Rows as JSON (for scripts) or as an aligned text table (for people)."""
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def note(message: str) -> None:
    """Human-readable progress on stderr (stdout stays for what scripts capture, e.g. a token)."""
    click.echo(message, err=True)


def load_issuer(path: Path, issuer: str) -> IssuerKey:
    if not 0 < len(issuer) <= 64:
        fail("--issuer must be 1..64 characters")
    read_input(path, "--issuer-key")  # one-line errors for a missing or unreadable file
    try:
        return load_issuer_key(path, issuer)
    except (ValueError, TypeError):
        fail(f"--issuer-key {path}: not an unencrypted Ed25519 or P-256 private key (PEM)")


class Day(click.ParamType):
    """A date YYYY-MM-DD (midnight UTC)."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date like 2026-11-29", param, ctx)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
