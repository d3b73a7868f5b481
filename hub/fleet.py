"""Fleet view: each kiosk's last retained status message and when the hub last heard from it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub.db import Database, to_db_time
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
