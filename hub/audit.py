"""The hub's audit log: who changed flags or accounts, who looked up whom, and when.

Trace queries read personal data, so each one is written here BEFORE it runs, in its own committed
transaction: a query whose audit record cannot be written does not run. The log holds the id number that
was traced (an investigator needs to know whose movements were looked at) but never query results.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub.db import Database, from_db_time, to_db_time
from hub.queries import CheckpointDay, Contact, Passage, daily_report, trace_contacts, trace_person
from hub.schema import audit_log


def record(conn: sa.Connection, now: dt.datetime, actor: str, action: str, detail: dict[str, Any]) -> None:
    """One audit row inside the caller's transaction (changes are audited atomically with the change)."""
    conn.execute(sa.insert(audit_log).values(at=to_db_time(now), actor=actor, action=action, detail=detail))


def _record_now(db: Database, now: dt.datetime, actor: str, action: str, detail: dict[str, Any]) -> None:
    with db.begin() as conn:
        record(conn, now, actor, action, detail)


def audited_trace_person(
    db: Database, id_number: str, start: dt.datetime, end: dt.datetime, *, actor: str, now: dt.datetime
) -> list[Passage]:
    _record_now(
        db, now, actor, "trace.person", {"id": id_number, "from": start.isoformat(), "to": end.isoformat()}
    )
    return trace_person(db, id_number, start, end)


def audited_trace_contacts(
    db: Database,
    id_number: str,
    start: dt.datetime,
    end: dt.datetime,
    window: dt.timedelta,
    *,
    actor: str,
    now: dt.datetime,
) -> list[Contact]:
    detail = {
        "id": id_number,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "window_s": window.total_seconds(),
    }
    _record_now(db, now, actor, "trace.contacts", detail)
    return trace_contacts(db, id_number, start, end, window)


def audited_daily_report(
    db: Database, day: dt.date, tz: dt.tzinfo, *, actor: str, now: dt.datetime
) -> list[CheckpointDay]:
    """Reports hold no personal data, but who pulled which day is still worth knowing."""
    _record_now(db, now, actor, "report.daily", {"date": day.isoformat()})
    return daily_report(db, day, tz)


def audit_entries(
    db: Database, *, action_prefix: str | None = None, limit: int = 200, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest first; `before_id` pages back."""
    q = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action_prefix:
        q = q.where(audit_log.c.action.startswith(action_prefix))
    if before_id is not None:
        q = q.where(audit_log.c.id < before_id)
    with db.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        at = from_db_time(r["at"])
        r["at"] = at.isoformat() if at else None
    return rows
