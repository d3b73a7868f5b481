"""Fleet view: each kiosk's last retained status message and when the hub last heard from it."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import sqlalchemy as sa

from hub.assignments import assignments
from hub.db import Database, from_db_time, to_db_time
from hub.schema import kiosks
from wire.errors import WireError
from wire.status import ONLINE, ClockStatus, KioskStatus

UNKNOWN = "unknown"
NO_STATUS = KioskStatus(state="offline")  # the fields of a kiosk never heard from (all None)

INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # BIGINT: what either backend stores, and what JSON readers keep
MAX_STATUS_TEXT = 256
MAX_STATUS_ITEMS = 64
MAX_STATUS_DEPTH = 4


def clean_status(value: Any, depth: int = 0) -> Any:
    """A kiosk's status message bounded for storage and display: what the kiosk claims, made harmless.

    Integers outside the 64-bit range and non-finite numbers (`NaN` is not JSON: PostgreSQL refuses it)
    become null, strings are cut to MAX_STATUS_TEXT characters, lists and objects to MAX_STATUS_ITEMS
    entries and MAX_STATUS_DEPTH levels. A status that could not be stored would fail its writer on every
    retained re-delivery; one too large would fill the fleet view.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if INT_MIN <= value <= INT_MAX else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:MAX_STATUS_TEXT]
    if depth >= MAX_STATUS_DEPTH:
        return None
    if isinstance(value, list):
        return [clean_status(v, depth + 1) for v in value[:MAX_STATUS_ITEMS]]
    if isinstance(value, dict):
        items = list(value.items())[:MAX_STATUS_ITEMS]
        return {str(k)[:MAX_STATUS_TEXT]: clean_status(v, depth + 1) for k, v in items}
    return None


def record_status(
    db: Database, kiosk_id: str, status: KioskStatus | dict[str, Any], *, now: dt.datetime
) -> None:
    """Store a kiosk's status message (also the broker's will: `"state": "offline"`), bounded.

    The message is the typed one of wire/status.py (a dict is decoded here the same way: WireError if
    it breaks the contract); what is stored is its JSON object, unknown fields bounded by `clean_status`.
    """
    if not isinstance(status, KioskStatus):
        status = KioskStatus.from_dict(status)
    body = clean_status(status.to_dict())
    ins = db.dialect_insert(kiosks)
    stmt = ins.on_conflict_do_update(
        index_elements=["kiosk_id"], set_={"status": ins.excluded.status, "status_at": ins.excluded.status_at}
    )
    with db.begin() as conn:
        conn.execute(stmt, {"kiosk_id": kiosk_id, "status": body, "status_at": to_db_time(now)})


def stored_status(body: Any) -> KioskStatus | None:
    """A stored status read back through the contract; None when there is none, or when a row stored by
    older hub software breaks it (the kiosk's next status, within `status_interval_s`, replaces it)."""
    if isinstance(body, dict):
        try:
            return KioskStatus.from_dict(body)
        except WireError:
            pass
    return None


def fleet(db: Database) -> list[dict[str, Any]]:
    """All known kiosks, by id: checkpoint, last_seen (events), last_seq, status, status_at."""
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(kiosks).order_by(kiosks.c.kiosk_id))]


def fleet_view(db: Database, *, now: dt.datetime, stale_after_s: float) -> list[dict[str, Any]]:
    """What an operator reads about each kiosk, one flat dict per kiosk.

    `online` is what the kiosk (or the broker's will) last said; `stale` is the hub's own judgement: a
    kiosk that says it is online but has not been heard from (status or events) for `stale_after_s` is
    probably cut off without its will having fired yet (a half-open TCP connection lasts until keepalive).

    `checkpoint_id` and `zone` are the hub's assignment when the kiosk has one (hub/assignments.py);
    otherwise the checkpoint is the kiosk's own claim and `assigned` is false. `wrong_claims` counts the
    passages it sent claiming another checkpoint.
    """
    out: list[dict[str, Any]] = []
    assigned = assignments(db)
    rows = fleet(db)
    seen = {r["kiosk_id"] for r in rows}
    blank = {"checkpoint_id": None, "last_seen": None, "last_seq": None, "status": None, "status_at": None}
    rows += [{**blank, "kiosk_id": k} for k in assigned if k not in seen]  # assigned, never heard from
    for row in sorted(rows, key=lambda r: r["kiosk_id"]):
        known = stored_status(row["status"])
        status = known or NO_STATUS
        bound = assigned.get(row["kiosk_id"])
        claimed = row["checkpoint_id"] or status.checkpoint_id
        heard = from_db_time(max((t for t in (row["last_seen"], row["status_at"]) if t), default=None))
        age = None if heard is None else max(0.0, (now - heard).total_seconds())
        online = status.state == ONLINE
        clock = status.clock or ClockStatus()
        out.append(
            {
                "kiosk_id": row["kiosk_id"],
                "checkpoint_id": bound["checkpoint_id"] if bound else claimed,
                "zone": bound["zone"] if bound else None,
                "assigned": bound is not None,
                "claimed_checkpoint_id": status.checkpoint_id,
                "wrong_claims": bound["wrong_claims"] if bound else None,
                "mode": status.mode,
                "state": status.state if known else UNKNOWN,
                "online": online,
                "stale": age is None or age > stale_after_s,
                "last_heard": heard.isoformat() if heard is not None else None,
                "last_heard_age_s": None if age is None else round(age, 1),
                "last_seq": row["last_seq"],
                "software": status.version,
                "flags_version": status.flags_version,
                "trust_version": status.trust_version,
                "backlog": status.backlog,
                "clock_trusted": clock.trusted,
                "clock_reason": clock.reason,
                "resync_wanted": status.resync_wanted,
                "flags_state": status.flags_state,  # verified | behind | resyncing | unverified
                "flags_mismatch": status.flags_mismatch,
                "hub_keys": status.hub_keys,
                "updates_rejected": status.updates_rejected,
            }
        )
    return out
