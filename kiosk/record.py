"""A decision becomes a passage event: the one mapping from the kiosk's verdict to the wire format."""

from __future__ import annotations

from typing import Any

from kiosk.clock import ClockReading
from kiosk.pipeline import Decision
from kiosk.verify.verdict import Verdict
from wire.events import MAX_DOB, MAX_TEXT, UNSTORABLE, format_time, new_event_id, payload_digest
from wire.identity import is_person_id


def passage_fields(
    decision: Decision, kiosk_id: str, checkpoint_id: str, mode: str, flags_version: int | None
) -> dict[str, Any]:
    """Event fields without `seq` (the store assigns it). The raw token is never stored, only its digest."""
    return event_fields(
        decision.verdict, decision.clock, decision.code.raw, kiosk_id, checkpoint_id, mode, flags_version
    )


def event_fields(
    verdict: Verdict,
    clock: ClockReading,
    raw: bytes | None,
    kiosk_id: str,
    checkpoint_id: str,
    mode: str,
    flags_version: int | None,
    officer_id: str | None = None,
    override: bool | None = None,
) -> dict[str, Any]:
    """Event fields for any passage: scanned, confirmed or overridden by an officer, or typed in."""
    subject = _wire_subject(verdict.subject.to_dict()) if verdict.subject is not None else None
    return {
        "event_id": new_event_id(),
        "kiosk_id": kiosk_id,
        "checkpoint_id": checkpoint_id,
        "scanned_at": format_time(clock.now),
        "clock_ok": clock.trusted,
        "mode": mode,
        "kind": verdict.kind.value,
        "subject": subject,
        "verdict": verdict.outcome.value,
        "reasons": list(verdict.reasons),
        "officer_id": officer_id,
        "override": override,
        "flags_version": verdict.flags_version if verdict.flags_version is not None else flags_version,
        "payload_digest": payload_digest(raw) if raw is not None else None,
    }


def _wire_subject(subject: dict[str, str | None]) -> dict[str, str | None] | None:
    """Fit a parsed subject to the wire contract: only a full 12-digit id (a masked PC-Covid number
    identifies nobody and cannot be traced), texts bounded to the hub's columns and stripped of what no
    database stores (wire.events refuses both, and a passage the store refuses would be lost)."""
    id_number = subject.get("id_number")
    if id_number is not None and not is_person_id(id_number):  # ASCII digits: str.isdigit is not enough
        id_number = None
    name = _fit(subject.get("name"), MAX_TEXT)
    dob = _fit(subject.get("dob"), MAX_DOB)
    if id_number is None and name is None and dob is None:
        return None
    return {"id_number": id_number, "name": name, "dob": dob}


def _fit(text: str | None, limit: int) -> str | None:
    """A text the wire accepts: unstorable characters replaced, cut to `limit`; None when empty."""
    if not text:
        return None
    return UNSTORABLE.sub("\ufffd", str(text))[:limit] or None
