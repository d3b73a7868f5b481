"""A verdict becomes a passage the wire and the hub's columns accept: never a passage the store refuses.

wire.events bounds every field to the hub's columns (issue 12 item 3); a subject read from a code
that does not fit (a long printed date, a control character in a name) is cut to fit and kept, since
a passage the store refused would be a lost record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kiosk.clock import ClockReading
from kiosk.record import event_fields
from kiosk.store import KioskStore
from kiosk.verify.verdict import Outcome, PayloadKind, Subject, Verdict
from wire.events import MAX_DOB, MAX_TEXT, PassageEvent

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def verdict_for(subject: Subject) -> Verdict:
    return Verdict(Outcome.REVIEW, PayloadKind.CCCD, ("identity_only",), "vi", "en", subject)


def test_subject_texts_are_fitted_to_the_wire_and_recorded(tmp_path: Path) -> None:
    subject = Subject("００１０９９０１２３４５", "Nguyễn\x00Văn\x1b[K An" + "x" * 400, "1" * 60)
    fields = event_fields(verdict_for(subject), ClockReading(NOW, True, "assumed"), b"raw", "kiosk-1", "cp-1",
                          "self", None)  # fmt: skip
    event = KioskStore(tmp_path / "k.db").record(fields)
    assert isinstance(event, PassageEvent) and event.subject is not None
    assert event.subject.id_number is None  # full-width digits are no id number
    assert event.subject.name is not None and len(event.subject.name) == MAX_TEXT
    assert event.subject.name.startswith("Nguyễn\ufffdVăn\ufffd[K An")
    assert event.subject.dob == "1" * MAX_DOB


def test_a_cccd_subject_is_recorded_as_read() -> None:
    subject = Subject("001099012345", "Nguyễn Văn An", "1999-01-01")
    fields = event_fields(verdict_for(subject), ClockReading(NOW, True, "assumed"), b"raw", "kiosk-1", "cp-1",
                          "self", None)  # fmt: skip
    assert fields["subject"] == {"id_number": "001099012345", "name": "Nguyễn Văn An", "dob": "1999-01-01"}
