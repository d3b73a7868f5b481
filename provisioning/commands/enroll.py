"""`provision kiosk enroll KIOSK_ID ...`: record a kiosk and print its one-time enrollment token.

The token goes to stdout alone (for `TOKEN=$(provision kiosk enroll ...)`), everything else to
stderr; only its hash is stored, and it is never logged.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from common.clitools import Duration
from provisioning import commands
from provisioning.commands import dir_option, fail, log, note, open_book, open_registry
from provisioning.inventory import ACTIVE, DECOMMISSIONED, PENDING, KioskRecord, check_kiosk_id
from wire import topics

MAX_TTL = dt.timedelta(days=30)
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def parse_broker(value: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})", value) or re.fullmatch(
        r"([^:\[\]]+):(\d{1,5})", value
    )
    if not m:
        fail(f"--broker {value!r}: expected HOST:PORT, e.g. hub.example.vn:8883")
    host, port = m.group(1), int(m.group(2))
    if ":" not in host and not _HOST.fullmatch(host):
        fail(f"--broker {value!r}: {host!r} is not a host name or address")
    if not 1 <= port <= 65535:
        fail(f"--broker {value!r}: port must be 1..65535")
    return host, port


def _text(option: str, value: str, required: bool) -> str:
    value = value.strip()
    if required and not value:
        fail(f"{option} must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        fail(f"{option} must be one line of text")
    if len(value) > 200:
        fail(f"{option} is longer than 200 characters")
    return value


@click.command("enroll")
@dir_option
@click.argument("kiosk_id")
@click.option("--checkpoint", "checkpoint_id", required=True, help="checkpoint id (same rules as kiosk ids)")
@click.option("--name", required=True, help="checkpoint name shown to operators, e.g. 'Siêu thị A'")
@click.option("--location", default="", help="where it stands, e.g. 'Hà Nội'")
@click.option("--mode", required=True, type=click.Choice(["self", "assisted"]))
@click.option("--broker", "broker", required=True, help="HOST:PORT the kiosk connects to (TLS)")
@click.option("--ttl", default="24h", type=Duration(), show_default=True, help="token lifetime (max 30d)")
@click.option("--force", is_flag=True, help="re-enroll a decommissioned or already active kiosk")
def command(
    directory: Path,
    kiosk_id: str,
    checkpoint_id: str,
    name: str,
    location: str,
    mode: str,
    broker: str,
    ttl: dt.timedelta,
    force: bool,
) -> None:
    """Record KIOSK_ID in the registry and print a one-time enrollment token for it."""
    if reason := check_kiosk_id(kiosk_id):
        fail(reason)
    if ttl > MAX_TTL:
        fail("--ttl is longer than 30d: a token is meant to be used at installation")
    if not topics.KIOSK_ID.fullmatch(checkpoint_id):
        fail(f"invalid checkpoint id {checkpoint_id!r}: lower-case letters, digits and '-' only")
    name = _text("--name", name, required=True)
    location = _text("--location", location, required=False)
    host, port = parse_broker(broker)
    registry = open_registry(directory, create=True)
    if reason := check_kiosk_id(kiosk_id, registry.hub_users()):
        fail(reason)
    existing = registry.get(kiosk_id)
    if existing is not None and existing.status == DECOMMISSIONED and not force:
        fail(f"{kiosk_id} was decommissioned on {existing.decommissioned_at}: use --force to enroll it again")
    if existing is not None and existing.status == ACTIVE and not force:
        fail(f"{kiosk_id} is already enrolled and active: use --force to issue a new token")
    now = commands.utc_now()
    book = open_book(directory)
    book.cancel(kiosk_id, now)  # an earlier unused token for this kiosk stops working
    registry.enroll(
        KioskRecord(
            kiosk_id=kiosk_id,
            checkpoint_id=checkpoint_id,
            name=name,
            location=location,
            mode=mode,
            broker_host=host,
            broker_port=port,
            status=ACTIVE if existing is not None and existing.status == ACTIVE else PENDING,
            enrolled_at=now.isoformat(),
            activated_at=existing.activated_at if existing else None,
            decommissioned_at=None,
        )
    )
    token = book.issue(kiosk_id, now, ttl)
    log.info("enrolled kiosk %s (checkpoint %s), token valid until %s", kiosk_id, checkpoint_id, now + ttl)
    if existing is not None and existing.status == ACTIVE:
        note(f"note: {kiosk_id}'s current certificate stays valid; decommission it first to revoke it")
    if existing is not None and existing.status == DECOMMISSIONED:
        note("note: after signing, run `provision broker config` so the broker lifts its deny block")
    note(f"enrolled {kiosk_id}; one-time token valid until {(now + ttl):%Y-%m-%d %H:%M} UTC:")
    click.echo(token)
