"""Checks a passage event (contracts.md "Passage event") before the hub stores it.

Pure: a dict in, a row for the `events` table out, or `InvalidEvent` naming the field. The hub never trusts
a kiosk's JSON blindly, but it also never crashes on it: the caller records the reject and carries on.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from hub.db import to_db_time

MODES = frozenset({"self", "assisted", "manual"})
KINDS = frozenset({"pass", "hc1", "cccd", "manual", "unknown"})
VERDICTS = frozenset({"PASS", "DENY", "REVIEW"})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = 256


class InvalidEvent(ValueError):
    """The event breaks the contract; the message names the field."""


def parse_rfc3339(value: Any, field: str) -> dt.datetime:
    """An aware UTC datetime from an RFC 3339 string that carries an offset (`Z` or `+07:00`)."""
    if not isinstance(value, str):
        raise InvalidEvent(f"{field}: expected an RFC 3339 string")
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"{field}: not an RFC 3339 time: {value[:40]!r}") from None
    if t.tzinfo is None:
        raise InvalidEvent(f"{field}: time has no UTC offset")
    return t.astimezone(dt.UTC)


def _text(ev: dict[str, Any], field: str, *, optional: bool = False) -> str | None:
    v = ev.get(field)
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v or len(v) > MAX_TEXT:
        raise InvalidEvent(f"{field}: expected a non-empty string of at most {MAX_TEXT} characters")
    return v


def _choice(ev: dict[str, Any], field: str, allowed: frozenset[str]) -> str:
    v = ev.get(field)
    if v not in allowed:
        raise InvalidEvent(f"{field}: {v!r} is not one of {sorted(allowed)}")
    return str(v)


def _int(ev: dict[str, Any], field: str, *, optional: bool = False) -> int | None:
    v = ev.get(field)
    if v is None and optional:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InvalidEvent(f"{field}: expected a non-negative integer")
    return v


def _bool(ev: dict[str, Any], field: str, *, optional: bool = False) -> bool | None:
    v = ev.get(field)
    if v is None and optional:
        return None
    if not isinstance(v, bool):
        raise InvalidEvent(f"{field}: expected true or false")
    return v


def event_row(ev: Any, received_at: dt.datetime) -> dict[str, Any]:
    """The `events` row for a valid event; raises InvalidEvent otherwise."""
    if not isinstance(ev, dict):
        raise InvalidEvent("event: expected a JSON object")
    event_id = _text(ev, "event_id")
    try:
        parsed = uuid.UUID(str(event_id))
    except ValueError:
        raise InvalidEvent("event_id: not a UUID") from None
    if parsed.version != 7 or str(parsed) != event_id:
        raise InvalidEvent("event_id: expected a lower-case UUIDv7 string")
    subject = ev.get("subject")
    if subject is not None and not isinstance(subject, dict):
        raise InvalidEvent("subject: expected an object or null")
    subject = subject or {}
    reasons = ev.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) and r for r in reasons):
        raise InvalidEvent("reasons: expected a list of reason codes")
    digest = ev.get("payload_digest")
    if digest is not None and (not isinstance(digest, str) or not _HEX64.match(digest)):
        raise InvalidEvent("payload_digest: expected 64 lower-case hex characters or null")
    return {
        "event_id": event_id,
        "kiosk_id": _text(ev, "kiosk_id"),
        "checkpoint_id": _text(ev, "checkpoint_id"),
        "seq": _int(ev, "seq"),
        "scanned_at": to_db_time(parse_rfc3339(ev.get("scanned_at"), "scanned_at")),
        "clock_ok": _bool(ev, "clock_ok"),
        "mode": _choice(ev, "mode", MODES),
        "kind": _choice(ev, "kind", KINDS),
        "subject_id": _text(subject, "id_number", optional=True),
        "subject_name": _text(subject, "name", optional=True),
        "subject_dob": _text(subject, "dob", optional=True),
        "verdict": _choice(ev, "verdict", VERDICTS),
        "reasons": list(reasons),
        "officer_id": _text(ev, "officer_id", optional=True),
        "override": _bool(ev, "override", optional=True),
        "flags_version": _int(ev, "flags_version", optional=True),
        "payload_digest": digest,
        "body": ev,
        "received_at": to_db_time(received_at),
    }
