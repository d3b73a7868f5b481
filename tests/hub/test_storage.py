"""Hub storage: migrations and ingest on SQLite and a private PostgreSQL through the same code."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from hub.db import Database, open_database
from hub.ingest import store_events, store_events_detailed
from hub.schema import MIGRATIONS, current_version, event_rejects, events, kiosks, migrate, registry_outbox
from tests.hub.factory import T0, make_event


def count(db: Database, table: sa.Table) -> int:
    with db.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_migrate_is_idempotent(db: Database) -> None:
    assert current_version(db) == MIGRATIONS[-1][0]
    assert migrate(db, T0) == []
    assert current_version(db) == MIGRATIONS[-1][0]


def test_concurrent_migrations_apply_each_step_once(db_url: str) -> None:
    dbs = [open_database(db_url) for _ in range(4)]
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(dbs))

    def run(d: Database) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(migrate(d, T0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for d in dbs:
        d.dispose()
    assert errors == []
    assert sorted(results) == [[], [], [], [v for v, _ in MIGRATIONS]]


def test_duplicate_is_acked_but_stored_once(db: Database) -> None:
    batch = [make_event(i) for i in range(5)]
    first = store_events_detailed(db, batch, now=T0)
    assert sorted(first.stored) == sorted(e["event_id"] for e in batch)
    second = [*batch[2:], make_event(5), batch[0], batch[0]]
    again = store_events_detailed(db, second, now=T0)
    assert sorted(again.acked) == sorted({e["event_id"] for e in second})
    assert again.stored == [make_event(5)["event_id"]]
    assert count(db, events) == 6
    assert count(db, registry_outbox) == 6
    with db.begin() as conn:
        row = conn.execute(sa.select(kiosks)).one()
    assert (row.kiosk_id, row.last_seq) == ("kiosk-1", 5)


def test_invalid_events_are_rejected_not_fatal(db: Database) -> None:
    good = make_event(1)
    bad_verdict = {**make_event(2), "verdict": "MAYBE"}
    no_tz = {**make_event(3), "scanned_at": "2026-11-20T08:00:00"}
    not_v7 = {**make_event(4), "event_id": "6f1c7b9e-8d36-4c1a-9e0e-0a4b5c6d7e8f"}
    result = store_events_detailed(db, [good, bad_verdict, no_tz, not_v7, "junk", {"seq": 1}], now=T0)
    assert result.stored == [good["event_id"]]
    reasons = {i: r for i, r in result.rejected}
    assert reasons[bad_verdict["event_id"]].startswith("verdict")
    assert reasons[no_tz["event_id"]].startswith("scanned_at")
    assert reasons[not_v7["event_id"]].startswith("event_id")
    assert len(result.rejected) == 5
    # Rejects with an id are acked (recorded for operators); id-less junk cannot be.
    assert set(result.acked) == {
        good["event_id"],
        bad_verdict["event_id"],
        no_tz["event_id"],
        not_v7["event_id"],
    }
    assert count(db, event_rejects) == 5
    assert count(db, events) == 1


def test_event_for_another_kiosk_is_rejected(db: Database) -> None:
    ev = make_event(1, kiosk="kiosk-2")
    result = store_events_detailed(db, [ev], now=T0, from_kiosk="kiosk-1")
    assert result.stored == []
    assert "kiosk_id" in result.rejected[0][1]


def test_overlapping_batches_from_two_workers_store_each_event_once(db_url: str, db: Database) -> None:
    all_events = [make_event(i, kiosk=f"kiosk-{i % 3}") for i in range(120)]
    workers = [open_database(db_url) for _ in range(2)]
    acked: list[set[str]] = [set(), set()]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            # Worker 0 goes forwards, worker 1 backwards, in overlapping windows of 20.
            starts = range(0, 110, 10) if n == 0 else range(100, -10, -10)
            for s in starts:
                window = all_events[s : s + 20]
                acked[n].update(store_events(workers[n], window if n == 0 else window[::-1], now=T0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for w in workers:
        w.dispose()
    assert errors == []
    everyone = {e["event_id"] for e in all_events}
    assert acked[0] == everyone and acked[1] == everyone
    assert count(db, events) == 120
    assert count(db, registry_outbox) == 120


def test_reused_event_id_with_other_content_keeps_first_and_is_reported(db: Database) -> None:
    ev = make_event(1)
    store_events(db, [ev], now=T0)
    forged = {**ev, "verdict": "DENY", "reasons": ["flag_f0"]}
    result = store_events_detailed(db, [forged], now=T0)
    assert result.acked == [ev["event_id"]] and result.duplicates == [ev["event_id"]]
    with db.begin() as conn:
        assert conn.execute(sa.select(events.c.verdict)).scalar_one() == "PASS"
        reason = conn.execute(sa.select(event_rejects.c.reason)).scalar_one()
    assert "different content" in reason
    store_events(db, [ev], now=T0)  # an identical re-send is not reported
    assert count(db, event_rejects) == 1
