"""Versioned documents the hub signs and pushes retained to every kiosk (trust list, health rules).

One place owns their storage: each change is a new version in `hub_documents`, written with its
audit row in one transaction, under a lock, so two operators can never produce the same version.
The flag publisher signs the newest version of each and publishes it retained (hub/flag_publisher.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub import audit
from hub.db import Database, to_db_time
from hub.schema import hub_documents


def set_document(
    db: Database,
    name: str,
    body: dict[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    action: str,
    detail: dict[str, Any],
) -> int:
    """Store `body` as the next version of document `name` and audit it; returns the new version."""
    with db.begin() as conn:
        db.lock_in_transaction(conn, f"hub.{name}")
        current = conn.execute(
            sa.select(hub_documents.c.version).where(hub_documents.c.name == name)
        ).scalar()
        version = int(current or 0) + 1
        values = {"version": version, "body": body, "updated_at": to_db_time(now)}
        if current is None:
            conn.execute(sa.insert(hub_documents).values(name=name, **values))
        else:
            conn.execute(sa.update(hub_documents).where(hub_documents.c.name == name).values(**values))
        audit.record(conn, now, actor, action, {"version": version, **detail})
    return version


def current_document(db: Database, name: str) -> tuple[int, dict[str, Any]] | None:
    """(version, body) of the newest version of document `name`, or None before the first."""
    with db.begin() as conn:
        row = conn.execute(
            sa.select(hub_documents.c.version, hub_documents.c.body).where(hub_documents.c.name == name)
        ).first()
    return None if row is None else (int(row.version), dict(row.body))


def document_version(db: Database, name: str) -> int | None:
    """The newest version of document `name` without reading its body (polled every second)."""
    with db.begin() as conn:
        v = conn.execute(sa.select(hub_documents.c.version).where(hub_documents.c.name == name)).scalar()
    return None if v is None else int(v)
