"""Topics and passage events: the contract both sides import."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from wire import topics
from wire.errors import WireError
from wire.events import (
    PassageEvent,
    Subject,
    decode_ack,
    decode_events,
    encode_ack,
    encode_events,
    format_time,
    new_event_id,
    payload_digest,
)


def event(seq: int = 1, **changes: object) -> PassageEvent:
    base = PassageEvent(
        event_id=new_event_id(),
        kiosk_id="kiosk-1",
        checkpoint_id="cp-1",
        seq=seq,
        scanned_at=format_time(datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        clock_ok=True,
        mode="self",
        kind="cccd",
        subject=Subject("001099012345", "Nguyễn Văn An", "1999-01-01"),
        verdict="PASS",
        reasons=(),
        flags_version=4,
        payload_digest=payload_digest(b"qr"),
    )
    return PassageEvent(**{**base.__dict__, **changes}) if changes else base


def test_topics_follow_the_contract() -> None:
    assert topics.events("kiosk-1") == "checkpoint/v1/kiosks/kiosk-1/events"
    assert topics.acks("kiosk-1") == "checkpoint/v1/kiosks/kiosk-1/acks"
    assert topics.status("kiosk-1") == "checkpoint/v1/kiosks/kiosk-1/status"
    assert topics.commands("kiosk-1") == "checkpoint/v1/kiosks/kiosk-1/commands"
    assert topics.FLAGS_UPDATES == "checkpoint/v1/flags/updates"
    assert topics.FLAGS_HEAD == "checkpoint/v1/flags/head"
    assert topics.TRUST == "checkpoint/v1/trust"
    assert topics.shared("hub", topics.ALL_EVENTS) == "$share/hub/checkpoint/v1/kiosks/+/events"
    assert topics.parse_kiosk_topic("checkpoint/v1/kiosks/kiosk-1/events") == ("kiosk-1", "events")
    assert topics.parse_kiosk_topic("checkpoint/v1/kiosks/+/events") is None
    assert topics.FLAGS_ALL == "checkpoint/v1/flags/#"
    assert topics.ALL_ACKS == "checkpoint/v1/kiosks/+/acks"
    assert topics.ALL_COMMANDS == "checkpoint/v1/kiosks/+/commands"


def test_acl_patterns_put_the_broker_username_in_the_kiosk_level() -> None:
    assert topics.username_pattern("events") == "checkpoint/v1/kiosks/%u/events"
    assert topics.username_pattern(topics.COMMANDS) == "checkpoint/v1/kiosks/%u/commands"
    with pytest.raises(ValueError):
        topics.username_pattern("secrets")


@pytest.mark.parametrize("bad", ["Kiosk", "a/b", "+", "#", "", "x" * 64])
def test_a_kiosk_id_that_could_escape_its_topic_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        topics.events(bad)


def test_event_ids_are_uuid7_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(50)]
    assert all(i[14] == "7" for i in ids)
    assert ids == sorted(ids)


def test_single_event_and_batch_round_trip() -> None:
    one = event()
    assert decode_events(encode_events([one])) == [one]
    batch = [event(seq) for seq in range(1, 4)]
    payload = encode_events(batch)
    assert json.loads(payload)[1]["seq"] == 2
    assert decode_events(payload) == batch


def test_unknown_fields_are_kept_for_forward_compatibility() -> None:
    data = {**event().to_dict(), "future_field": 1}
    assert PassageEvent.from_dict(data).to_dict()["future_field"] == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("event_id", "not-a-uuid", "event_id"),
        ("kiosk_id", "Kiosk 1", "kiosk_id"),
        ("seq", -1, "seq"),
        ("seq", True, "seq"),
        ("scanned_at", "yesterday", "scanned_at"),
        ("scanned_at", "2026-11-22T08:00:00", "scanned_at"),
        ("verdict", "MAYBE", "verdict"),
        ("mode", "robot", "mode"),
        ("kind", "barcode", "kind"),
        ("payload_digest", "abc", "payload_digest"),
        ("subject", {"id_number": "12345", "name": "A", "dob": None}, "subject"),
        ("reasons", "flag_f0", "reasons"),
        # Bounds of the hub's columns and BIGINT (issue 12 item 3): refused here, never at an INSERT.
        ("subject", {"id_number": None, "name": "A", "dob": "1" * 60}, "subject"),
        ("subject", {"id_number": "０" * 12, "name": None, "dob": None}, "subject"),
        ("subject", {"id_number": "001099012345\n", "name": None, "dob": None}, "subject"),
        ("subject", {"id_number": None, "name": "A\x00B", "dob": None}, "subject"),
        ("subject", {"id_number": None, "name": "\ud800", "dob": None}, "subject"),
        ("checkpoint_id", "c" * 129, "checkpoint_id"),
        ("officer_id", "o" * 129, "officer_id"),
        ("kiosk_id", "kiosk-1\n", "kiosk_id"),
        ("seq", 2**63, "seq"),
        ("flags_version", 2**63, "flags_version"),
        ("flags_version", -1, "flags_version"),
        ("reasons", ["r" * 65], "reasons"),
        ("reasons", ["r"] * 33, "reasons"),
        ("scanned_at", "0001-01-01T00:00:00+01:00", "scanned_at"),
        ("future_field", 2**64, "unknown fields"),
        ("future_field", float("nan"), "unknown fields"),
        ("future_field", {"k": "\x00"}, "unknown fields"),
        ("future_field", "x" * 20000, "exceeds"),
    ],
)
def test_invalid_fields_are_named(field: str, value: object, message: str) -> None:
    data = {**event().to_dict(), field: value}
    with pytest.raises(WireError, match=message):
        PassageEvent.from_dict(data)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"[1,2]",
        b'"text"',
        b"\xff\xfe",
        b"[" + b"{}," * 2000 + b"{}]",
        b"[" * 100_000 + b"]" * 100_000,  # RecursionError inside json
        b'{"seq": ' + b"9" * 5000 + b"}",  # beyond Python's int digit limit: a ValueError
    ],
)
def test_garbage_is_a_wire_error_never_a_crash(payload: bytes) -> None:
    with pytest.raises(WireError):
        decode_events(payload)


def test_acks_round_trip_and_refuse_garbage() -> None:
    ids = [new_event_id(), new_event_id()]
    assert decode_ack(encode_ack(ids)) == ids
    for bad in (b"[]", b'{"event_ids": [1]}', b"nope", b'{"ids": []}'):
        with pytest.raises(WireError):
            decode_ack(bad)
