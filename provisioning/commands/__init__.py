"""Subcommands of `provision` and the small helpers they share.

Errors an operator can cause (a missing file, a wrong token, a bad CSV row) end in one line on
stderr and a non-zero exit, never a traceback: `fail()` raises click's ClickException (exit 1).
Nothing secret and nothing personal (tokens, keys, names, id numbers) is logged at INFO or above.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, NoReturn

import click

from provisioning.ca import CA_KEY, CertificateAuthority
from provisioning.enrollment import EnrollmentBook
from provisioning.inventory import DB_FILE, KioskRegistry
from provisioning.issuer import IssuerKey, load_issuer_key

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
