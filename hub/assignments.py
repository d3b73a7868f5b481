"""Where each kiosk stands, as the hub knows it: the source of truth for a kiosk's checkpoint and zone.

A kiosk's events and status say which checkpoint it is at, but that is the kiosk's claim: a compromised
kiosk could forge passages "at" other checkpoints (they would show up in contact traces), move itself in
the fleet view, or write anything into reports. The hub holds its own record instead, `kiosk_assignments`,
set by an operator (`hub kiosks assign`) or copied from the provisioning registry where every kiosk was
enrolled with its checkpoint (`hub kiosks import`, provisioning/inventory.py).

For an assigned kiosk, ingest stores every passage at the ASSIGNED checkpoint whatever the event says (the
record is kept, so the kiosk's log stays gap-free and in order), keeps the claim beside it in the body
(`claimed_checkpoint_id`), and counts the wrong claim (`wrong_claims`, shown by `hub kiosks`). A kiosk with
no assignment is taken at its word, and `hub kiosks` says so ("assigned": false).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from common.clitools import escape_text
from hub import audit
from hub.db import Database, to_db_time
from hub.schema import kiosk_assignments
from wire.identity import SLUG_ID_RULE, is_slug_id

log = logging.getLogger(__name__)

PROVISIONING_DB = "provision.db"  # where `provision` keeps its records (provisioning/inventory.py DB_FILE)

MAX_ZONE = 32  # as kiosk/verify/policy.py's zone


def _check(kiosk_id: str, checkpoint_id: str, zone: str | None) -> None:
    if not is_slug_id(kiosk_id):
        raise ValueError(f"kiosk id {escape_text(kiosk_id)!r}: {SLUG_ID_RULE}")
    if not is_slug_id(checkpoint_id):
        raise ValueError(f"checkpoint id {escape_text(checkpoint_id)!r}: {SLUG_ID_RULE}")
    if zone is not None and not (0 < len(zone) <= MAX_ZONE and zone.isprintable()):
        raise ValueError(f"zone: 1..{MAX_ZONE} printable characters")


def _upsert(
    db: Database,
    conn: sa.Connection,
    kiosk_id: str,
    checkpoint_id: str,
    zone: str | None,
    source: str,
    now: dt.datetime,
) -> None:
    values = {"checkpoint_id": checkpoint_id, "zone": zone, "source": source, "assigned_at": to_db_time(now)}
    stmt = db.dialect_insert(kiosk_assignments).values(kiosk_id=kiosk_id, wrong_claims=0, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["kiosk_id"], set_=values))


def assign(
    db: Database, kiosk_id: str, checkpoint_id: str, *, zone: str | None = None, actor: str, now: dt.datetime
) -> None:
    """An operator says where a kiosk stands (audited). Its wrong-claim count is kept."""
    _check(kiosk_id, checkpoint_id, zone)
    with db.begin() as conn:
        _upsert(db, conn, kiosk_id, checkpoint_id, zone, actor, now)
        detail = {"kiosk_id": kiosk_id, "checkpoint_id": checkpoint_id, "zone": zone}
        audit.record(conn, now, actor, "kiosk.assign", detail)


def import_provisioning(db: Database, directory: Path, *, actor: str, now: dt.datetime) -> list[str]:
    """Assign every pending or active kiosk of the provisioning registry to its enrolled checkpoint.

    Returns the kiosk ids assigned. A zone set by an operator is kept (the registry has none).
    """
    path = directory / PROVISIONING_DB
    if not path.is_file():
        raise FileNotFoundError(f"no provisioning registry at {path}")
    records = enrolled_kiosks(path)
    for kiosk_id, checkpoint_id in records:
        _check(kiosk_id, checkpoint_id, None)
    with db.begin() as conn:
        zones = {r.kiosk_id: r.zone for r in conn.execute(sa.select(kiosk_assignments))}
        for kiosk_id, checkpoint_id in records:
            _upsert(db, conn, kiosk_id, checkpoint_id, zones.get(kiosk_id), f"provisioning ({actor})", now)
        audit.record(conn, now, actor, "kiosk.import", {"directory": str(directory), "kiosks": len(records)})
    return [kiosk_id for kiosk_id, _ in records]


def enrolled_kiosks(path: Path) -> list[tuple[str, str]]:
    """(kiosk_id, checkpoint_id) of every pending or active kiosk in the provisioning tools' database.

    Read as a file, not through the provisioning package: the hub imports none of it (README, Layout), and
    the `kiosks` table that provisioning/inventory.py writes is the contract between the two.
    """
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT kiosk_id, checkpoint_id FROM kiosks"
            " WHERE status IN ('pending', 'active') ORDER BY kiosk_id"
        ).fetchall()
    return [(str(kiosk_id), str(checkpoint_id)) for kiosk_id, checkpoint_id in rows]


def assignments(db: Database) -> dict[str, dict[str, Any]]:
    """kiosk_id -> its assignment row (checkpoint_id, zone, source, wrong_claims, ...)."""
    with db.begin() as conn:
        return {r.kiosk_id: dict(r._mapping) for r in conn.execute(sa.select(kiosk_assignments))}


def bind_to_assignments(conn: sa.Connection, rows: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Put each event row of an assigned kiosk at its assigned checkpoint (in place).

    Returns event_id -> (kiosk_id, claimed checkpoint) for the rows that claimed another checkpoint. The
    event body (what the registry receives) gets the assigned checkpoint too, and the claim as
    `claimed_checkpoint_id`: a re-sent event is rewritten the same way, so it still matches its stored copy.
    """
    ids = sorted({r["kiosk_id"] for r in rows})
    if not ids:
        return {}
    q = sa.select(kiosk_assignments.c.kiosk_id, kiosk_assignments.c.checkpoint_id).where(
        kiosk_assignments.c.kiosk_id.in_(ids)
    )
    bound = {kiosk_id: checkpoint_id for kiosk_id, checkpoint_id in conn.execute(q)}
    wrong: dict[str, tuple[str, str]] = {}
    for row in rows:
        assigned = bound.get(row["kiosk_id"])
        if assigned is None or row["checkpoint_id"] == assigned:
            continue
        claimed = row["checkpoint_id"]
        row["checkpoint_id"] = assigned
        row["body"] = {**row["body"], "checkpoint_id": assigned, "claimed_checkpoint_id": claimed}
        wrong[row["event_id"]] = (row["kiosk_id"], claimed)
    return wrong


def count_wrong_claims(
    conn: sa.Connection, wrong: dict[str, tuple[str, str]], new_ids: set[str], now: dt.datetime
) -> None:
    """Add the NEW events' wrong claims to each kiosk's count (a re-sent event is counted once)."""
    per_kiosk: dict[str, tuple[int, str]] = {}
    for event_id in sorted(wrong):
        if event_id in new_ids:
            kiosk_id, claimed = wrong[event_id]
            per_kiosk[kiosk_id] = (per_kiosk.get(kiosk_id, (0, ""))[0] + 1, claimed)
    for kiosk_id in sorted(per_kiosk):
        n, claimed = per_kiosk[kiosk_id]
        conn.execute(
            sa.update(kiosk_assignments)
            .where(kiosk_assignments.c.kiosk_id == kiosk_id)
            .values(
                wrong_claims=kiosk_assignments.c.wrong_claims + n,
                last_wrong_claim=escape_text(claimed)[:128],
                last_wrong_claim_at=to_db_time(now),
            )
        )
        log.warning(
            "kiosk %s claimed checkpoint %r in %d new events: stored at its assigned one",
            kiosk_id,
            claimed,
            n,
        )
