"""Generated passage events for hub tests (dicts in the contract's shape)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from typing import Any

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def uuid7(ms: int, rnd: random.Random) -> str:
    """A UUIDv7 string from a millisecond timestamp and seeded randomness (reproducible tests)."""
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rnd.getrandbits(12) << 64
    value |= 0b10 << 62
    value |= rnd.getrandbits(62)
    return str(uuid.UUID(int=value))


def make_event(
    seq: int,
    *,
    kiosk: str = "kiosk-1",
    checkpoint: str = "cp-1",
    at: dt.datetime | None = None,
    id_number: str | None = "001234567890",
    verdict: str = "PASS",
    reasons: list[str] | None = None,
    rnd: random.Random | None = None,
) -> dict[str, Any]:
    """One valid event; `seq` also spaces scan times a second apart unless `at` is given."""
    rnd = rnd or random.Random(f"{kiosk}/{seq}")
    at = at or T0 + dt.timedelta(seconds=seq)
    return {
        "event_id": uuid7(int(at.timestamp() * 1000), rnd),
        "kiosk_id": kiosk,
        "checkpoint_id": checkpoint,
        "seq": seq,
        "scanned_at": at.isoformat().replace("+00:00", "Z"),
        "clock_ok": True,
        "mode": "self",
        "kind": "cccd",
        "subject": None
        if id_number is None
        else {"id_number": id_number, "name": "NGUYEN VAN A", "dob": "1990-01-01"},
        "verdict": verdict,
        "reasons": reasons if reasons is not None else ([] if verdict == "PASS" else ["flag_f0"]),
        "officer_id": None,
        "override": None,
        "flags_version": 3,
        "payload_digest": hashlib.sha256(f"{kiosk}/{seq}".encode()).hexdigest(),
    }
