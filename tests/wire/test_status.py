"""The kiosk status message (wire/status.py): what the kiosk builds decodes at the hub, unknown fields
are kept, and a known field that breaks the contract is refused with its name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import fast_link_config, passage_fields
from wire.errors import WireError
from wire.status import MAX_STATUS_BYTES, KioskStatus, decode_status, encode_status

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_the_links_status_is_a_valid_message_with_nothing_unknown(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "kiosk.db")
    store.record(passage_fields(1))
    extra = {"checkpoint_id": "cp-1", "clock": {"trusted": True, "reason": "ntp", "floor": None}}
    link = KioskLink(fast_link_config(1883), "kiosk-1", store, status_extra=lambda: extra, wall=lambda: AT)
    online = decode_status(link._status_payload("online"))
    assert online.online and online.model_extra == {}
    assert (online.kiosk_id, online.backlog, online.checkpoint_id) == ("kiosk-1", 1, "cp-1")
    assert online.clock is not None and online.clock.trusted is True
    assert online.at == "2026-12-01T08:00:00+00:00"
    offline = json.loads(link._status_payload("offline"))  # the will: the core fields only
    assert set(offline) == {"state", "kiosk_id", "version", "at"} and offline["state"] == "offline"
    link.mqtt.close()


def test_a_status_field_that_breaks_the_contract_is_sent_as_an_error_not_dropped(tmp_path: Path) -> None:
    """A bug in a status field must not silence the kiosk: the core fields go out with the error."""
    store = KioskStore(tmp_path / "kiosk.db")
    link = KioskLink(fast_link_config(1883), "kiosk-1", store, status_extra=lambda: {"frames": -1})
    status = decode_status(link._status_payload("online"))
    assert status.online and "frames" in str((status.model_extra or {})["status_error"])
    assert link.stats.status_errors == 1
    link.mqtt.close()


def test_round_trip_keeps_unknown_fields_and_nulls_as_sent() -> None:
    body = {"state": "online", "backlog": 3, "flags_version": None, "future": {"x": [1, 2]}}
    status = KioskStatus.from_dict(body)
    assert status.backlog == 3 and status.model_extra == {"future": {"x": [1, 2]}}
    assert json.loads(encode_status(status)) == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "sleeping"}, "state"),
        ({}, "state"),
        ({"state": "online", "backlog": -1}, "backlog"),
        ({"state": "online", "backlog": "3"}, "backlog"),  # no coercion: a string is not a count
        ({"state": "online", "backlog": True}, "backlog"),
        ({"state": "online", "flags_version": 2**63}, "flags_version"),
        ({"state": "online", "resync_buckets": [256]}, "resync_buckets.0"),
        ({"state": "online", "resync_buckets": list(range(65))}, "resync_buckets"),
        ({"state": "online", "docs_wanted": {"trust": list(range(65))}}, "docs_wanted"),
        ({"state": "online", "hub_keys": "k1"}, "hub_keys"),
        ({"state": "online", "kiosk_id": "Kiosk 1"}, "kiosk_id"),
        ({"state": "online", "clock": {"trusted": "yes"}}, "clock.trusted"),
        ({"state": "online", "decode_rate": float("nan")}, "decode_rate"),
    ],
)
def test_a_known_field_out_of_contract_is_refused_with_its_name(body: dict[str, object], field: str) -> None:
    with pytest.raises(WireError, match=f"status: {field}"):
        KioskStatus.from_dict(body)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[1]",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"state": "online", "backlog": ' + b"9" * 5000 + b"}",
        b'{"state": "online", "pad": "' + b"x" * MAX_STATUS_BYTES + b'"}',
    ],
)
def test_garbage_is_a_wire_error_never_a_crash(payload: bytes) -> None:
    with pytest.raises(WireError):
        decode_status(payload)
