"""Fleet view: each kiosk's last retained status message and when the hub last heard from it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub.db import Database, from_db_time, to_db_time
from hub.schema import kiosks


def record_status(db: Database, kiosk_id: str, status: dict[str, Any], *, now: dt.datetime) -> None:
    """Store a kiosk's status message (also the broker's will: `"state": "offline"`)."""
    ins = db.dialect_insert(kiosks)
    stmt = ins.on_conflict_do_update(
        index_elements=["kiosk_id"], set_={"status": ins.excluded.status, "status_at": ins.excluded.status_at}
    )
    with db.begin() as conn:
        conn.execute(stmt, {"kiosk_id": kiosk_id, "status": status, "status_at": to_db_time(now)})


def fleet(db: Database) -> list[dict[str, Any]]:
    """All known kiosks, by id: checkpoint, last_seen (events), last_seq, status, status_at."""
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(kiosks).order_by(kiosks.c.kiosk_id))]


def fleet_view(db: Database, *, now: dt.datetime, stale_after_s: float) -> list[dict[str, Any]]:
    """What an operator reads about each kiosk, one flat dict per kiosk.

    `online` is what the kiosk (or the broker's will) last said; `stale` is the hub's own judgement: a
    kiosk that says it is online but has not been heard from (status or events) for `stale_after_s` is
    probably cut off without its will having fired yet (a half-open TCP connection lasts until keepalive).
    """
    out: list[dict[str, Any]] = []
    for row in fleet(db):
        status: dict[str, Any] = row["status"] or {}
        heard = from_db_time(max((t for t in (row["last_seen"], row["status_at"]) if t), default=None))
        age = None if heard is None else max(0.0, (now - heard).total_seconds())
        online = status.get("state") == "online"
        clock = status.get("clock") or {}
        out.append(
            {
                "kiosk_id": row["kiosk_id"],
                "checkpoint_id": row["checkpoint_id"] or status.get("checkpoint_id"),
                "mode": status.get("mode"),
                "state": status.get("state", "unknown"),
                "online": online,
                "stale": age is None or age > stale_after_s,
                "last_heard": heard.isoformat() if heard is not None else None,
                "last_heard_age_s": None if age is None else round(age, 1),
                "last_seq": row["last_seq"],
                "software": status.get("version"),
                "flags_version": status.get("flags_version"),
                "trust_version": status.get("trust_version"),
                "backlog": status.get("backlog"),
                "clock_trusted": clock.get("trusted"),
                "clock_reason": clock.get("reason"),
                "resync_wanted": status.get("resync_wanted"),
                "flags_state": status.get("flags_state"),  # verified | behind | resyncing | unverified
                "flags_mismatch": status.get("flags_mismatch"),
                "hub_keys": status.get("hub_keys"),
                "updates_rejected": status.get("updates_rejected"),
            }
        )
    return out
