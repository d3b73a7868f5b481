"""Durable ingest of passage events: the hub's side of "each event_id stored once, acked after commit".

The MQTT binding (hub/mqtt_ingest.py) is a thin layer over `store_many`: decode each message, store the
messages that queued up meanwhile together, publish an ack naming exactly the ids each result acks.
`store_events` (tests, tools) is the same for one batch. Everything here happens in ONE transaction per
group of batches:

* valid events are inserted with ON CONFLICT DO NOTHING on event_id (a re-sent event is acked again but
  stored once, also when two workers receive the same batch at the same moment);
* each newly seen event is enqueued for the registry in the same transaction (transactional outbox), so an
  event is never stored without being scheduled for forwarding, nor forwarded without being stored;
* invalid events go to `event_rejects` with the reason instead of failing the batch;
* an assigned kiosk's events are stored at its assigned checkpoint, whatever they claim
  (hub/assignments.py): a kiosk speaks only for itself.
* an event the database itself refuses (a poison event) is isolated from its neighbours, dead-lettered
  to `event_rejects` and acked: it never blocks its kiosk or the other kiosks of its commit group.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hub.assignments import bind_to_assignments, count_wrong_claims
from hub.db import Database, to_db_time
from hub.schema import event_rejects, events, kiosks, registry_outbox
from hub.validate import InvalidEvent, event_row
from wire.events import INT64_MAX, DecodedEvent, storable_text
from wire.topics import KIOSK_ID

log = logging.getLogger(__name__)

# What a statement error caused by the row itself looks like (a value the column or a constraint
# refuses): retrying it can never succeed, so it is isolated and dead-lettered. Anything else (the
# database is down, full, or a connection dropped) is not the event's fault: nothing is acked, and
# the kiosks re-send once the database is back.
DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.DataError, sa.exc.IntegrityError)
NOT_STORABLE = "not storable at the hub"


@dataclass
class StoreResult:
    """What one batch did. `acked` is what the hub may now ack to the kiosk."""

    acked: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)  # new in this call
    duplicates: list[str] = field(default_factory=list)  # already stored before (or twice in the batch)
    rejected: list[tuple[str | None, str]] = field(default_factory=list)  # (event_id if any, reason)
    deferred: list[str] = field(default_factory=list)  # beyond a seq gap: not stored, not acked (in_order)
    dead_lettered: list[str] = field(default_factory=list)  # valid, but the database refused the row


def _column_text(value: Any, limit: int) -> str | None:
    """A value fit for a bounded text column: escaped where the database would refuse it, cut to size."""
    if not isinstance(value, str):
        return None
    if len(value) > limit or not storable_text(value):
        value = value.encode("unicode_escape", "backslashreplace").decode("ascii")[:limit]
    return value


def _reject_row(ev: Any, reason: str, now: dt.datetime) -> dict[str, Any]:
    """A row of `event_rejects` that the database always accepts, whatever the event held."""
    ev_id = ev.get("event_id") if isinstance(ev, dict) else None
    kiosk = ev.get("kiosk_id") if isinstance(ev, dict) else None
    try:
        body = json.dumps(ev, ensure_ascii=True, default=str)  # ASCII: no NUL, no lone surrogate
    except (TypeError, ValueError, RecursionError) as exc:
        body = f"<unserialisable: {exc}>"
    return {
        "event_id": _column_text(ev_id, 128),
        "kiosk_id": _column_text(kiosk, 128),
        "reason": _column_text(reason, 4096) or "",
        "body": body[:65536],
        "received_at": to_db_time(now),
    }


@dataclass
class _Reject:
    """A refused event. `kiosk`/`seq` place it in its kiosk's log when it has a usable seq: it then
    fills its place (the kiosk will not send that seq again once acked) instead of leaving a gap that
    would hold back every later passage of the kiosk."""

    row: dict[str, Any]
    event_id: str | None
    reason: str
    kiosk: str | None
    seq: int | None


@dataclass
class _Prepared:
    """One batch after validation: its rows (deduplicated within the batch) and its rejects."""

    result: StoreResult
    rows: dict[str, dict[str, Any]]
    rejects: list[_Reject]


def _place(ev: Any, from_kiosk: str | None) -> tuple[str | None, int | None]:
    """The kiosk log position a refused event claims, if it has one."""
    if not isinstance(ev, dict):
        return None, None
    kiosk = from_kiosk if from_kiosk is not None else ev.get("kiosk_id")
    seq = ev.get("seq")
    if not (isinstance(kiosk, str) and KIOSK_ID.fullmatch(kiosk)):
        return None, None
    if not (isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= INT64_MAX):
        return None, None
    return kiosk, seq


def _prepare(batch: list[Any], from_kiosk: str | None, now: dt.datetime) -> _Prepared:
    prepared = _Prepared(StoreResult(), {}, [])
    for item in batch:
        ev = item.raw if isinstance(item, DecodedEvent) else item  # as the kiosk sent it
        try:
            row = event_row(item, now)
            if from_kiosk is not None and row["kiosk_id"] != from_kiosk:
                raise InvalidEvent(f"kiosk_id: {row['kiosk_id']!r} sent by kiosk {from_kiosk!r}")
        except InvalidEvent as exc:
            rej = _reject_row(ev, str(exc), now)
            ev_id = ev.get("event_id") if isinstance(ev, dict) else None  # acked as the kiosk sent it
            ev_id = ev_id if isinstance(ev_id, str) else None
            prepared.rejects.append(_Reject(rej, ev_id, str(exc), *_place(ev, from_kiosk)))
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
    message in between. A refused event with a usable seq takes its place in that order (recorded in
    `event_rejects`, acked once its predecessors are in). A kiosk the hub has never seen starts at
    seq 1 (a new kiosk's first passage); after a hub database loss, `rebase_kiosk_seq` tells the hub
    where a kiosk's record continues.
    """
    return store_many(db, [(from_kiosk, batch)], now=now, in_order=in_order)[0]


def store_many(
    db: Database, batches: Sequence[tuple[str | None, list[Any]]], *, now: dt.datetime, in_order: bool = False
) -> list[StoreResult]:
    """Several batches (each with the kiosk that sent it) in ONE transaction: one commit, one fsync.

    A batch's items are what `wire.events.decode_events(payload, one_by_one=True)` gave (the MQTT
    worker), or parsed JSON items, which are decoded here the same way.

    An ingest worker hands over every message that arrived while it was committing the previous group,
    so under load the commit cost is shared by many messages. Each batch gets its own result, exactly as
    `store_events_detailed` would have given it.

    If the database refuses a row that passed validation (DATA_ERRORS), the group is stored again
    message by message, and a message that still fails event by event: the refused event is
    dead-lettered (kept in `event_rejects`, acked, counted) and never holds back its kiosk or the other
    messages of the group. Any other database error propagates and nothing is acked.
    """
    prepared = [_prepare(batch, kiosk, now) for kiosk, batch in batches]
    try:
        _commit(db, prepared, now, in_order)
    except DATA_ERRORS as exc:
        log.warning("hub ingest: the database refused a row of a %d-message group (%s): isolating it",
                    len(prepared), _brief(exc))  # fmt: skip
        for p in prepared:
            _store_isolated(db, p, now, in_order)
    return [p.result for p in prepared]


def _brief(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300] if str(exc) else type(exc).__name__


def _store_isolated(db: Database, p: _Prepared, now: dt.datetime, in_order: bool) -> None:
    """One message alone; if the database still refuses it, each of its events alone, in seq order."""
    try:
        _commit(db, [p], now, in_order)
        return
    except DATA_ERRORS:
        pass
    merged = StoreResult(duplicates=list(p.result.duplicates))
    pieces = [_Prepared(StoreResult(), {}, [r]) for r in p.rejects]
    pieces += [_Prepared(StoreResult(), {k: row}, []) for k, row in p.rows.items()]
    pieces.sort(key=lambda q: _piece_seq(q))
    for piece in pieces:
        try:
            _commit(db, [piece], now, in_order)
        except DATA_ERRORS as exc:
            piece = _dead_letter(db, piece, exc, now, in_order)
        for name in ("acked", "stored", "duplicates", "rejected", "deferred", "dead_lettered"):
            getattr(merged, name).extend(getattr(piece.result, name))
    p.result = merged


def _dead_letter(
    db: Database, piece: _Prepared, exc: Exception, now: dt.datetime, in_order: bool
) -> _Prepared:
    """Keep a refused event in `event_rejects` in its kiosk's place, acked once that place is reached."""
    reason = f"{NOT_STORABLE}: {_brief(exc)}"
    if piece.rows:
        ((event_id, row),) = piece.rows.items()
        log.error("hub ingest: event %s of kiosk %s dead-lettered: %s", event_id, row["kiosk_id"], reason)
        reject = _Reject(_reject_row(row["body"], reason, now), event_id, reason, row["kiosk_id"], row["seq"])
    else:
        reject = piece.rejects[0]
    dead = _Prepared(StoreResult(), {}, [reject])
    try:
        _commit(db, [dead], now, in_order)
    except DATA_ERRORS:  # even the escaped copy is refused: keep the id and the reason
        reject.row = {**reject.row, "body": "<refused by the database>"}
        _commit(db, [dead], now, in_order)
    if piece.rows:
        dead.result.dead_lettered = [i for i in dead.result.acked]
    return dead


def _piece_seq(p: _Prepared) -> tuple[int, int]:
    for row in p.rows.values():
        return (0, int(row["seq"]))
    seq = p.rejects[0].seq
    return (0, seq) if seq is not None else (1, 0)


def _commit(db: Database, prepared: list[_Prepared], now: dt.datetime, in_order: bool) -> None:
    """Store the prepared batches in one transaction and, once it committed, fill in their results."""
    rows: dict[str, dict[str, Any]] = {}
    for p in prepared:
        for event_id, row in p.rows.items():
            rows.setdefault(event_id, row)  # the same event re-sent in two messages: one row
    rejects = [r for p in prepared for r in p.rejects]
    kept: set[str] = set(rows)
    kept_rejects: set[int] = set(range(len(rejects)))
    new_ids: set[str] = set()
    with db.begin() as conn:
        wrong = bind_to_assignments(conn, list(rows.values()))
        if in_order and (rows or any(r.seq is not None for r in rejects)):
            kept, kept_rejects = _contiguous(conn, list(rows.values()), rejects)
        # Sorted by event_id: concurrent overlapping batches take row locks in one order (no deadlock).
        ordered = [rows[k] for k in sorted(kept)]
        reject_rows = [r.row for i, r in enumerate(rejects) if i in kept_rejects]
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
            count_wrong_claims(conn, wrong, new_ids, now)
            reject_rows.extend(
                _conflicting_duplicates(conn, [r for r in ordered if r["event_id"] not in new_ids], now)
            )
        positions = [(r["kiosk_id"], r["seq"], r["checkpoint_id"]) for r in ordered]
        if in_order:  # a refused event's seq counts only where the log's order is kept
            positions += [
                (r.kiosk, r.seq, None)
                for i, r in enumerate(rejects)
                if i in kept_rejects and r.kiosk and r.seq is not None
            ]
        if positions:
            _touch_kiosks(db, conn, positions, now)
        if reject_rows:
            conn.execute(sa.insert(event_rejects), reject_rows)

    claimed: set[str] = set()
    offset = 0
    for p in prepared:
        result = p.result
        mine = range(offset, offset + len(p.rejects))
        offset += len(p.rejects)
        result.deferred = [i for i in p.rows if i not in kept]
        result.deferred += [
            r.event_id for i, r in zip(mine, p.rejects, strict=True) if i not in kept_rejects and r.event_id
        ]
        result.rejected = [
            (r.event_id, r.reason) for i, r in zip(mine, p.rejects, strict=True) if i in kept_rejects
        ]
        here = sorted(i for i in p.rows if i in kept)
        for event_id in here:
            (result.stored if event_id in new_ids and event_id not in claimed else result.duplicates).append(
                event_id
            )
            claimed.add(event_id)
        result.acked = here + [i for i, _ in result.rejected if i is not None]


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


def _contiguous(
    conn: sa.Connection, rows: list[dict[str, Any]], rejects: list[_Reject]
) -> tuple[set[str], set[int]]:
    """Event ids, and indexes of placed rejects, that continue each known kiosk's seq without a gap
    (see `in_order`). Rejects without a position are always kept: nothing waits on them."""
    keep: set[str] = set()
    keep_rejects = {i for i, r in enumerate(rejects) if r.kiosk is None or r.seq is None}
    by_kiosk: dict[str, list[tuple[int, str | int]]] = {}  # kiosk -> [(seq, event_id or reject index)]
    for row in rows:
        by_kiosk.setdefault(row["kiosk_id"], []).append((row["seq"], row["event_id"]))
    for i, r in enumerate(rejects):
        if r.kiosk is not None and r.seq is not None:
            by_kiosk.setdefault(r.kiosk, []).append((r.seq, i))
    for kiosk_id in sorted(by_kiosk):
        # FOR UPDATE (PostgreSQL): two workers with batches of one kiosk take turns instead of racing.
        q = sa.select(kiosks.c.last_seq).where(kiosks.c.kiosk_id == kiosk_id).with_for_update()
        last = conn.execute(q).scalar()
        expected = 1 if last is None else int(last) + 1
        for seq, key in sorted(by_kiosk[kiosk_id], key=lambda e: e[0]):
            if seq > expected:
                break
            if isinstance(key, str):
                keep.add(key)
            else:
                keep_rejects.add(key)
            expected = max(expected, seq + 1)
    return keep, keep_rejects


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


def _touch_kiosks(
    db: Database, conn: sa.Connection, positions: list[tuple[str, int, str | None]], now: dt.datetime
) -> None:
    """Fleet view: last time each kiosk delivered events, its highest seq seen, its checkpoint.

    `positions` are (kiosk, seq, checkpoint or None): a refused event moves the seq, not the checkpoint.
    """
    latest: dict[str, dict[str, Any]] = {}
    for kiosk_id, seq, checkpoint in positions:
        k = latest.setdefault(kiosk_id, {"kiosk_id": kiosk_id, "last_seq": seq, "checkpoint_id": None})
        k["last_seq"] = max(k["last_seq"], seq)
        if checkpoint is not None:
            k["checkpoint_id"] = checkpoint
    stmt = db.dialect_insert(kiosks)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kiosk_id"],
        set_={
            "checkpoint_id": sa.func.coalesce(stmt.excluded.checkpoint_id, kiosks.c.checkpoint_id),
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
