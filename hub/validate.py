"""Turns a passage event (contracts.md "Passage event") into a row of the hub's `events` table.

The contract itself is checked by `wire.events.PassageEvent`, the one definition kiosk and hub
share; this module only maps a valid event to columns. Pure: a dict in, a row out, or
`InvalidEvent` naming the field. The hub never trusts a kiosk's JSON blindly, but never crashes
on it either: the caller records the reject and carries on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.db import to_db_time
from wire.events import DecodedEvent, decode_event, parse_time


class InvalidEvent(ValueError):
    """The event breaks the contract; the message names the field."""


def parse_rfc3339(value: Any, field: str) -> dt.datetime:
    """An aware UTC datetime from an RFC 3339 string that carries an offset (`Z` or `+07:00`)."""
    parsed = parse_time(value)
    if parsed is None:
        raise InvalidEvent(f"{field}: not an RFC 3339 time with an offset: {str(value)[:40]!r}")
    return parsed


def event_row(ev: DecodedEvent | Any, received_at: dt.datetime) -> dict[str, Any]:
    """The `events` row for a valid event (as decoded by `wire.events`, or a parsed JSON item that is
    decoded here the same way); raises InvalidEvent otherwise."""
    decoded = ev if isinstance(ev, DecodedEvent) else decode_event(ev)
    event, ev = decoded.event, decoded.raw
    if event is None:
        raise InvalidEvent(decoded.error or "not an event")
    subject = event.subject
    return {
        "event_id": event.event_id,
        "kiosk_id": event.kiosk_id,
        "checkpoint_id": event.checkpoint_id,
        "seq": event.seq,
        "scanned_at": to_db_time(parse_rfc3339(event.scanned_at, "scanned_at")),
        "clock_ok": event.clock_ok,
        "mode": event.mode,
        "kind": event.kind,
        "subject_id": subject.id_number if subject else None,
        "subject_name": subject.name if subject else None,
        "subject_dob": subject.dob if subject else None,
        "verdict": event.verdict,
        "reasons": list(event.reasons),
        "officer_id": event.officer_id,
        "override": event.override,
        # Within BIGINT like every integer: wire.events bounds them (PostgreSQL refused whole commit groups).
        "flags_version": event.flags_version,
        "payload_digest": event.payload_digest,
        "body": ev,
        "received_at": to_db_time(received_at),
    }
