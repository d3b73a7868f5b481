"""Passage events and the hub's acks (contracts.md "Passage event"), encoded as JSON.

An event is made once on the kiosk, stored in its outbox, published, stored once by the hub and
forwarded to the registry: the same JSON object all the way. Validation here is strict so that a
bad event is refused at the first hop with a reason, not half-stored somewhere later.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, overload

import uuid6

from wire.errors import WireError
from wire.identity import PERSON_ID
from wire.topics import KIOSK_ID

MODES = frozenset({"self", "assisted", "manual"})
KINDS = frozenset({"pass", "hc1", "cccd", "pccovid", "manual", "unknown"})
VERDICTS = frozenset({"PASS", "DENY", "REVIEW"})
MAX_BATCH = 1000
MAX_MESSAGE_BYTES = 1 << 20

# Bounds of every field, no wider than the hub's columns (hub/schema.py `events`) and integer types
# (BIGINT): an event that passes here is one the hub's database can store on either backend, so a bad
# event is refused by validation, with a reason, instead of failing an INSERT on every retry.
MAX_TEXT = 256  # free text without a column limit (subject name)
MAX_ID_TEXT = 128  # checkpoint_id, officer_id: String(128)
MAX_DOB = 16  # subject_dob: String(16); ISO dates, or a partial date as printed
MAX_REASON = 64
MAX_REASONS = 32
MAX_EVENT_BYTES = 16 * 1024  # one event as JSON, unknown fields included
MAX_EXTRA_DEPTH = 8
INT64_MAX = (1 << 63) - 1  # BIGINT
INT64_MIN = -(1 << 63)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_ID12 = PERSON_ID  # ASCII digits only (`\d` also matches full-width digits)
# NUL (PostgreSQL text refuses it), other C0/C1 controls, and lone surrogates (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def new_event_id() -> str:
    """A UUIDv7: unique without coordination, and sortable by creation time."""
    return str(uuid6.uuid7())


def payload_digest(raw: bytes) -> str:
    """SHA-256 of the raw QR bytes: identifies a scan without storing the token itself."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Subject:
    id_number: str | None
    name: str | None
    dob: str | None


@dataclass(frozen=True, slots=True)
class PassageEvent:
    event_id: str
    kiosk_id: str
    checkpoint_id: str
    seq: int
    scanned_at: str  # RFC 3339, UTC
    clock_ok: bool
    mode: str
    kind: str
    subject: Subject | None
    verdict: str
    reasons: tuple[str, ...]
    officer_id: str | None = None
    override: bool | None = None  # assisted mode: the officer overrode the kiosk's verdict
    flags_version: int | None = None
    payload_digest: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # forward compatibility: unknown fields kept

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        extra = d.pop("extra")
        return {**extra, **d}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Any, *, validate: bool = True) -> PassageEvent:
        """The event in `data`; WireError if it breaks the contract.

        `validate=False` is for events this kiosk recorded itself, read back from its own store: one
        recorded by older software under looser bounds must still be sent (the hub refuses it with a
        reason, in its place in the kiosk's log, and acks it), never block the outbox on the kiosk.
        """
        if not isinstance(data, dict):
            raise WireError("event must be a JSON object")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        missing = {"event_id", "kiosk_id", "checkpoint_id", "seq", "scanned_at", "verdict"} - data.keys()
        if missing:
            raise WireError(f"event lacks {sorted(missing)}")
        reasons = data.get("reasons") or []
        if not isinstance(reasons, list):
            raise WireError("reasons: expected a list of reason codes")
        subject = data.get("subject")
        if subject is not None:
            if not isinstance(subject, dict):
                raise WireError("subject must be an object or null")
            subject = Subject(subject.get("id_number"), subject.get("name"), subject.get("dob"))
        try:
            event = cls(
                event_id=data["event_id"],
                kiosk_id=data["kiosk_id"],
                checkpoint_id=data["checkpoint_id"],
                seq=data["seq"],
                scanned_at=data["scanned_at"],
                clock_ok=data.get("clock_ok", False),
                mode=data.get("mode", "self"),
                kind=data.get("kind", "unknown"),
                subject=subject,
                verdict=data["verdict"],
                reasons=tuple(reasons),
                officer_id=data.get("officer_id"),
                override=data.get("override"),
                flags_version=data.get("flags_version"),
                payload_digest=data.get("payload_digest"),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except TypeError as exc:
            raise WireError(f"malformed event: {exc}") from None
        if validate:
            event.validate()
        return event

    def validate(self) -> None:
        """Raise WireError naming the first field that breaks the contract."""
        checks: list[tuple[bool, str]] = [
            (_matches(_UUID, self.event_id), "event_id: expected a lower-case UUIDv7 string"),
            (_matches(KIOSK_ID, self.kiosk_id), "kiosk_id: lower-case letters, digits and '-'"),
            (_matches(KIOSK_ID, self.checkpoint_id), "checkpoint_id: lower-case letters, digits and '-'"),
            (_int_in(self.seq, 0, INT64_MAX), "seq: expected a non-negative 64-bit integer"),
            (_is_rfc3339(self.scanned_at), "scanned_at: expected an RFC 3339 time with an offset"),
            (isinstance(self.clock_ok, bool), "clock_ok: expected true or false"),
            (self.mode in MODES, f"mode: expected one of {sorted(MODES)}"),
            (self.kind in KINDS, f"kind: expected one of {sorted(KINDS)}"),
            (self.verdict in VERDICTS, f"verdict: expected one of {sorted(VERDICTS)}"),
            (
                len(self.reasons) <= MAX_REASONS and all(_short_text(r, MAX_REASON) for r in self.reasons),
                f"reasons: expected a list of at most {MAX_REASONS} reason codes",
            ),
            (
                self.officer_id is None or _short_text(self.officer_id, MAX_ID_TEXT),
                f"officer_id: expected a string of at most {MAX_ID_TEXT} characters or null",
            ),
            (
                self.override is None or isinstance(self.override, bool),
                "override: expected true, false or null",
            ),
            (
                self.flags_version is None or _int_in(self.flags_version, 0, INT64_MAX),
                "flags_version: expected a non-negative 64-bit integer",
            ),
            (
                self.payload_digest is None or _matches(_DIGEST, self.payload_digest),
                "payload_digest: SHA-256 hex",
            ),
            (
                self.subject is None or _subject_ok(self.subject),
                f"subject: id_number 12 digits, name at most {MAX_TEXT} and dob at most {MAX_DOB} characters",
            ),
            (_extra_ok(self.extra, 0), "unknown fields: strings, finite numbers and 64-bit integers only"),
        ]
        for ok, message in checks:
            if not ok:
                raise WireError(message)
        size = len(self.to_json())
        if size > MAX_EVENT_BYTES:
            raise WireError(f"event of {size} bytes exceeds {MAX_EVENT_BYTES}")


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and bool(pattern.fullmatch(value))


def storable_text(value: str) -> bool:
    """Free of what no database column takes: NUL, control characters, lone surrogates."""
    return UNSTORABLE.search(value) is None


def _short_text(value: object, limit: int = MAX_TEXT) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and storable_text(value)


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _subject_ok(subject: Subject) -> bool:
    return (
        (subject.id_number is None or _matches(_ID12, subject.id_number))
        and (subject.name is None or _short_text(subject.name))
        and (subject.dob is None or _short_text(subject.dob, MAX_DOB))
    )


def _extra_ok(value: object, depth: int) -> bool:
    """Unknown fields are kept as sent (forward compatibility), but only what every store can hold."""
    if depth > MAX_EXTRA_DEPTH:
        return False
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, float):
        return math.isfinite(value)  # NaN and Infinity are not JSON; PostgreSQL refuses them
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return all(_extra_ok(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and storable_text(k) and _extra_ok(v, depth + 1) for k, v in value.items()
        )
    return False


def _is_rfc3339(value: object) -> bool:
    return parse_time(value) is not None


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 string with an offset, or None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return t.astimezone(UTC) if t.tzinfo is not None else None
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved past the range by its offset
        return None


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a `Z`, as events carry it."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_events(events: list[PassageEvent]) -> bytes:
    """One event as an object, several as a JSON array (a batch), per contracts.md."""
    if len(events) == 1:
        return events[0].to_json()
    return b"[" + b",".join(e.to_json() for e in events) + b"]"


def _loads(payload: bytes | bytearray) -> Any:  # paho types a message's payload so
    if len(payload) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        # ValueError: not JSON, not UTF-8, or an integer of more than 4300 digits;
        # RecursionError: arrays nested thousands deep.
        raise WireError(f"not JSON: {str(exc)[:200]}") from None


def decode_batch(payload: bytes | bytearray) -> list[Any]:
    """A message's events as parsed JSON items, within the size and batch limits; not validated yet.

    The hub validates each item on its own (`PassageEvent.from_dict`), so one bad event in a batch is
    refused with its reason while its neighbours are stored.
    """
    data = _loads(payload)
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_BATCH:
        raise WireError(f"batch of {len(items)} events exceeds {MAX_BATCH}")
    return items


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """One item of a received batch: the event, or why it is not one (`error`), and `raw` as it was sent
    (the hub stores the sender's own JSON, and records a refused item for operators)."""

    raw: Any
    event: PassageEvent | None = None
    error: str | None = None


def decode_event(item: Any) -> DecodedEvent:
    """One parsed JSON item checked against the contract; never raises for what a kiosk sent."""
    try:
        return DecodedEvent(item, PassageEvent.from_dict(item))
    except WireError as exc:
        return DecodedEvent(item, error=str(exc))


@overload
def decode_events(payload: bytes | bytearray) -> list[PassageEvent]: ...
@overload
def decode_events(payload: bytes | bytearray, *, one_by_one: Literal[True]) -> list[DecodedEvent]: ...
def decode_events(
    payload: bytes | bytearray, *, one_by_one: bool = False
) -> list[PassageEvent] | list[DecodedEvent]:
    """A message's events. WireError when the message as a whole is not a batch (not JSON, too big, too
    many events), and, by default, when any event in it breaks the contract.

    `one_by_one` (the hub): each event validated on its own, so one bad event is refused with its reason
    while its neighbours are stored."""
    decoded = [decode_event(item) for item in decode_batch(payload)]
    if one_by_one:
        return decoded
    for item in decoded:
        if item.event is None:
            raise WireError(item.error or "not an event")
    return [item.event for item in decoded if item.event is not None]


def encode_ack(event_ids: list[str]) -> bytes:
    return json.dumps({"event_ids": list(event_ids)}, separators=(",", ":")).encode()


def decode_ack(payload: bytes | bytearray) -> list[str]:
    data = _loads(payload)
    ids = data.get("event_ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise WireError('ack must be {"event_ids": [string, ...]}')
    return ids
