"""Durable ingest of passage events: the hub's side of "each event_id stored once, acked after commit".

The MQTT binding is a thin layer over `store_events`: decode the message, call it, publish an ack naming
exactly the ids it returns. Everything here happens in ONE transaction per batch:

* valid events are inserted with ON CONFLICT DO NOTHING on event_id (a re-sent event is acked again but
  stored once, also when two workers receive the same batch at the same moment);
* each newly seen event is enqueued for the registry in the same transaction (transactional outbox), so an
  event is never stored without being scheduled for forwarding, nor forwarded without being stored;
* invalid events go to `event_rejects` with the reason instead of failing the batch;
* an assigned kiosk's events are stored at its assigned checkpoint, whatever they claim
  (hub/assignments.py): a kiosk speaks only for itself.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hub.assignments import bind_to_assignments, count_wrong_claims
from hub.db import Database, to_db_time
from hub.schema import event_rejects, events, kiosks, registry_outbox
from hub.validate import InvalidEvent, event_row


@dataclass
class StoreResult:
    """What one batch did. `acked` is what the hub may now ack to the kiosk."""

    acked: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)  # new in this call
    duplicates: list[str] = field(default_factory=list)  # already stored before (or twice in the batch)
    rejected: list[tuple[str | None, str]] = field(default_factory=list)  # (event_id if any, reason)
    deferred: list[str] = field(default_factory=list)  # beyond a seq gap: not stored, not acked (in_order)


def _reject_row(ev: Any, reason: str, now: dt.datetime) -> dict[str, Any]:
    ev_id = ev.get("event_id") if isinstance(ev, dict) else None
    kiosk = ev.get("kiosk_id") if isinstance(ev, dict) else None
    try:
        body = json.dumps(ev, ensure_ascii=False, default=str)
    except (TypeError, ValueError) as exc:
        body = f"<unserialisable: {exc}>"
    return {
        "event_id": ev_id if isinstance(ev_id, str) else None,
        "kiosk_id": kiosk if isinstance(kiosk, str) else None,
        "reason": reason,
        "body": body[:65536],
        "received_at": to_db_time(now),
    }


@dataclass
class _Prepared:
    """One batch after validation: its rows (deduplicated within the batch) and its rejects."""

    result: StoreResult
    rows: dict[str, dict[str, Any]]
    rejects: list[dict[str, Any]]


def _prepare(batch: list[Any], from_kiosk: str | None, now: dt.datetime) -> _Prepared:
    prepared = _Prepared(StoreResult(), {}, [])
    for ev in batch:
        try:
            row = event_row(ev, now)
            if from_kiosk is not None and row["kiosk_id"] != from_kiosk:
                raise InvalidEvent(f"kiosk_id: {row['kiosk_id']!r} sent by kiosk {from_kiosk!r}")
        except InvalidEvent as exc:
            rej = _reject_row(ev, str(exc), now)
            prepared.rejects.append(rej)
            prepared.result.rejected.append((rej["event_id"], str(exc)))
            continue
        if row["event_id"] in prepared.rows:
            prepared.result.duplicates.append(row["event_id"])
            continue
        prepared.rows[row["event_id"]] = row
    return prepared


def store_events_detailed(
    db: Database, batch: list[Any], *, now: dt.datetime, from_kiosk: str | None = None, in_order: bool = False
) -> StoreResult:
    """Validate and durably store a batch; see module docstring. Returns after COMMIT.

    `from_kiosk` is the kiosk the transport authenticated (the MQTT topic / certificate CN): an event
    claiming another kiosk_id is rejected, so one kiosk cannot write another's log.
    Rejected events that carry an event_id are acked too: they are durably recorded for operators, and a
    kiosk re-sending a malformed event forever would only block its own outbox.

    With `in_order`, a known kiosk's events are stored only up to the first gap in its `seq` (events
    beyond it are neither stored nor acked, so the kiosk re-sends them after the missing ones): each
    kiosk's passages then reach the hub's log gap-free and in order even when the broker lost a
    message in between. A kiosk the hub has never seen starts at seq 1 (a new kiosk's first passage);
    after a hub database loss, `rebase_kiosk_seq` tells the hub where a kiosk's record continues.
    """
    return store_many(db, [(from_kiosk, batch)], now=now, in_order=in_order)[0]


def store_many(
    db: Database, batches: list[tuple[str | None, list[Any]]], *, now: dt.datetime, in_order: bool = False
) -> list[StoreResult]:
    """Several batches (each with the kiosk that sent it) in ONE transaction: one commit, one fsync.

    An ingest worker hands over every message that arrived while it was committing the previous group,
    so under load the commit cost is shared by many messages. Each batch gets its own result, exactly as
    `store_events_detailed` would have given it.
    """
    prepared = [_prepare(batch, kiosk, now) for kiosk, batch in batches]
    rows: dict[str, dict[str, Any]] = {}
    for p in prepared:
        for event_id, row in p.rows.items():
            rows.setdefault(event_id, row)  # the same event re-sent in two messages: one row
    rejects = [r for p in prepared for r in p.rejects]
    kept: set[str] = set(rows)
    new_ids: set[str] = set()
    with db.begin() as conn:
        wrong = bind_to_assignments(conn, list(rows.values()))
        if in_order and rows:
            kept = _contiguous(conn, list(rows.values()))
        # Sorted by event_id: concurrent overlapping batches take row locks in one order (no deadlock).
        ordered = [rows[k] for k in sorted(kept)]
        if ordered:
            new_ids = _insert_new(db, conn, ordered)
            # Outbox in the kiosk's own order; this never waits on another batch (see module docstring).
            by_seq = sorted(ordered, key=lambda r: (r["kiosk_id"], r["seq"]))
            outbox = [
                {
                    "event_id": r["event_id"],
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": to_db_time(now),
                }
                for r in by_seq
                if r["event_id"] in new_ids
            ]
            if outbox:
                conn.execute(db.insert_ignore(registry_outbox), outbox)
            _touch_kiosks(db, conn, ordered, now)
            count_wrong_claims(conn, wrong, new_ids, now)
            rejects.extend(
                _conflicting_duplicates(conn, [r for r in ordered if r["event_id"] not in new_ids], now)
            )
        if rejects:
            conn.execute(sa.insert(event_rejects), rejects)

    results = []
    claimed: set[str] = set()
    for p in prepared:
        result = p.result
        result.deferred = [i for i in p.rows if i not in kept]
        here = sorted(i for i in p.rows if i in kept)
        for event_id in here:
            (result.stored if event_id in new_ids and event_id not in claimed else result.duplicates).append(
                event_id
            )
            claimed.add(event_id)
        result.acked = here + [i for i, _ in result.rejected if i is not None]
        results.append(result)
    return results


def _insert_new(db: Database, conn: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows (ON CONFLICT DO NOTHING); returns the ids that were not stored before.

    Not `INSERT ... RETURNING`: for that SQLAlchemy builds one huge multi-row statement that psycopg
    re-parses for every batch (measured: ~80% of the hub worker's CPU). A plain executemany is a short,
    cached statement (pipelined by psycopg), about 5x cheaper per event. Which ids are new is read first;
    if another worker commits the same id in between, both count it as new, the table still holds it
    once and the outbox's unique event_id keeps its forwarding single: only the statistics differ.
    """
    ids = [r["event_id"] for r in rows]
    existing = set(conn.execute(sa.select(events.c.event_id).where(events.c.event_id.in_(ids))).scalars())
    conn.execute(db.insert_ignore(events), rows)
    return set(ids) - existing


def _contiguous(conn: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Event ids that continue each known kiosk's seq without a gap (see `in_order`)."""
    keep: set[str] = set()
    by_kiosk: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kiosk.setdefault(row["kiosk_id"], []).append(row)
    for kiosk_id in sorted(by_kiosk):
        # FOR UPDATE (PostgreSQL): two workers with batches of one kiosk take turns instead of racing.
        q = sa.select(kiosks.c.last_seq).where(kiosks.c.kiosk_id == kiosk_id).with_for_update()
        last = conn.execute(q).scalar()
        expected = 1 if last is None else int(last) + 1
        for row in sorted(by_kiosk[kiosk_id], key=lambda r: r["seq"]):
            if row["seq"] > expected:
                break
            keep.add(row["event_id"])
            expected = max(expected, row["seq"] + 1)
    return keep


def rebase_kiosk_seq(db: Database, kiosk_id: str, last_seq: int, now: dt.datetime) -> None:
    """Operator repair after a hub database loss: accept this kiosk's passages from `last_seq + 1` on."""
    stmt = db.dialect_insert(kiosks).values(kiosk_id=kiosk_id, last_seq=last_seq, last_seen=to_db_time(now))
    with db.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["kiosk_id"], set_={"last_seq": last_seq}))


def _conflicting_duplicates(
    conn: sa.Connection, dups: list[dict[str, Any]], now: dt.datetime
) -> list[dict[str, Any]]:
    """Re-sent ids whose content differs from the stored copy: kept as first stored, shown to operators.

    An honest kiosk re-sends byte-identical events; a difference means a bug or tampering. The first
    copy stays authoritative (it may already be at the registry) and the event is still acked.
    """
    if not dups:
        return []
    q = sa.select(events.c.event_id, events.c.body).where(
        events.c.event_id.in_([r["event_id"] for r in dups])
    )
    stored = {r.event_id: r.body for r in conn.execute(q)}
    return [
        _reject_row(r["body"], "event_id already stored with different content; first copy kept", now)
        for r in dups
        if stored.get(r["event_id"]) != r["body"]
    ]


def _touch_kiosks(db: Database, conn: sa.Connection, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    """Fleet view: last time each kiosk delivered events, and its highest seq seen."""
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        k = latest.setdefault(r["kiosk_id"], {"kiosk_id": r["kiosk_id"], "last_seq": r["seq"]})
        k["last_seq"] = max(k["last_seq"], r["seq"])
        k["checkpoint_id"] = r["checkpoint_id"]
    stmt = db.dialect_insert(kiosks)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kiosk_id"],
        set_={
            "checkpoint_id": stmt.excluded.checkpoint_id,
            "last_seen": stmt.excluded.last_seen,
            "last_seq": sa.func.coalesce(
                sa.case(
                    (kiosks.c.last_seq > stmt.excluded.last_seq, kiosks.c.last_seq),
                    else_=stmt.excluded.last_seq,
                ),
                stmt.excluded.last_seq,
            ),
        },
    )
    # Sorted: consistent lock order on the kiosk rows across workers.
    conn.execute(stmt, [{**latest[k], "last_seen": to_db_time(now)} for k in sorted(latest)])


def store_events(
    db: Database, batch: list[Any], *, now: dt.datetime, from_kiosk: str | None = None, in_order: bool = False
) -> list[str]:
    """Store a batch durably; returns the event_ids the hub may ack (see `store_events_detailed`)."""
    return store_events_detailed(db, batch, now=now, from_kiosk=from_kiosk, in_order=in_order).acked
