"""Hub storage: migrations and ingest on SQLite and a private PostgreSQL through the same code."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from hub.assignments import assign
from hub.db import Database, open_database
from hub.fleet import fleet_view, record_status
from hub.ingest import NOT_STORABLE, store_events, store_events_detailed, store_many
from hub.queries import trace_contacts
from hub.schema import MIGRATIONS, current_version, event_rejects, events, kiosks, migrate, registry_outbox
from testkit.hub_events import T0, make_event
from wire.errors import WireError


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


def test_an_assigned_kiosk_speaks_only_for_its_own_checkpoint(db: Database) -> None:
    """Issue 12 item 5: a kiosk forged passages "at" another checkpoint; they showed up in contact traces."""
    assign(db, "kiosk-1", "cp-1", zone="HN-01", actor="cli:test", now=T0)
    victim = "079090000009"
    honest = make_event(1, kiosk="kiosk-2", checkpoint="cp-2", id_number=victim)
    forged = [make_event(s, kiosk="kiosk-1", checkpoint="cp-2", id_number=f"00109900000{s}") for s in (1, 2)]
    own = make_event(3, kiosk="kiosk-1", checkpoint="cp-1", id_number="001099000003")
    store_events(db, [honest], now=T0, from_kiosk="kiosk-2", in_order=True)
    acked = store_events(db, [*forged, own], now=T0, from_kiosk="kiosk-1", in_order=True)
    assert len(acked) == 3  # stored (at cp-1), acked, the kiosk's log stays gap-free
    assert store_events(db, forged, now=T0, from_kiosk="kiosk-1", in_order=True)  # re-sent: counted once

    window = (T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    assert trace_contacts(db, victim, *window, dt.timedelta(minutes=30)) == []
    with db.begin() as conn:
        stored = {r.event_id: r for r in conn.execute(sa.select(events))}
        rejects = conn.execute(sa.select(sa.func.count()).select_from(event_rejects)).scalar()
    for ev in forged:
        row = stored[ev["event_id"]]
        assert row.checkpoint_id == "cp-1" and row.body["checkpoint_id"] == "cp-1"  # the registry's copy too
        assert row.body["claimed_checkpoint_id"] == "cp-2"
    assert stored[own["event_id"]].body == own and stored[honest["event_id"]].checkpoint_id == "cp-2"
    assert rejects == 0  # a re-sent rewritten event matches its stored copy

    record_status(db, "kiosk-1", {"state": "online", "checkpoint_id": "cp-9"}, now=T0)
    view = {k["kiosk_id"]: k for k in fleet_view(db, now=T0, stale_after_s=60)}
    assert (view["kiosk-1"]["checkpoint_id"], view["kiosk-1"]["zone"]) == ("cp-1", "HN-01")
    assert view["kiosk-1"]["assigned"] is True and view["kiosk-1"]["wrong_claims"] == 2
    assert view["kiosk-1"]["claimed_checkpoint_id"] == "cp-9"
    assert view["kiosk-2"]["assigned"] is False and view["kiosk-2"]["checkpoint_id"] == "cp-2"
    assign(db, "kiosk-3", "cp-3", actor="cli:test", now=T0)  # assigned, never heard from: listed
    assert fleet_view(db, now=T0, stale_after_s=60)[-1]["kiosk_id"] == "kiosk-3"


@pytest.mark.parametrize("bad", ["CP 1", "cp-1\n", "=HYPERLINK(1)", "cp-\uff11"])
def test_assignments_follow_the_id_rules(db: Database, bad: str) -> None:
    with pytest.raises(ValueError, match="checkpoint id"):
        assign(db, "kiosk-1", bad, actor="cli:test", now=T0)
    with pytest.raises(ValueError, match="kiosk id"):
        assign(db, bad, "cp-1", actor="cli:test", now=T0)


def test_huge_integers_from_a_kiosk_do_not_fail_a_commit_group(db: Database) -> None:
    """`flags_version=2**63` failed the whole commit group on PostgreSQL (BIGINT), the neighbours' too."""
    huge = make_event(1, kiosk="kiosk-1")
    huge["flags_version"] = 2**63
    neighbour = make_event(1, kiosk="kiosk-2")
    beyond = make_event(2, kiosk="kiosk-1")
    beyond["seq"] = 2**63
    results = store_many(db, [("kiosk-1", [huge, beyond]), ("kiosk-2", [neighbour])], now=T0, in_order=True)
    assert results[1].stored == [neighbour["event_id"]]  # the neighbour in the same commit group
    # Both break the wire's 64-bit bound: refused with a reason, recorded for operators, acked.
    assert {i for i, _ in results[0].rejected} == {huge["event_id"], beyond["event_id"]}
    assert set(results[0].acked) == {huge["event_id"], beyond["event_id"]}
    with db.begin() as conn:
        reasons = dict(conn.execute(sa.select(event_rejects.c.event_id, event_rejects.c.reason)).all())
    assert reasons[huge["event_id"]].startswith("flags_version")


def test_a_kiosk_status_is_bounded_before_it_is_stored(db: Database) -> None:
    """What a kiosk may claim in its status is stored harmless: fields of the contract that break it are
    refused with the field's name (wire/status.py), fields it does not know are bounded (`clean_status`)."""
    for bad, field in (
        ({"flags_version": 2**63}, "flags_version"),  # beyond BIGINT
        ({"backlog": float("nan")}, "backlog"),  # not JSON: PostgreSQL refused the row on every re-delivery
        ({"clock": "not an object"}, "clock"),
    ):
        with pytest.raises(WireError, match=field):
            record_status(db, "kiosk-1", {"state": "online", **bad}, now=T0)
    assert fleet_view(db, now=T0, stale_after_s=60) == []  # nothing stored
    status = {
        "state": "online",
        "version": "x" * 10_000,
        "nested": [[[[["deep"]]]]],
        "huge": 2**70,
        "ratio": float("inf"),
    }
    record_status(db, "kiosk-1", status, now=T0)
    view = fleet_view(db, now=T0, stale_after_s=60)[0]
    assert len(view["software"]) == 256
    with db.begin() as conn:
        stored = conn.execute(sa.select(kiosks.c.status)).scalar_one()
    assert stored["nested"] == [[[None]]] and stored["huge"] is None and stored["ratio"] is None


# -- poison events (issue 12 item 3): nothing a kiosk sends can stop its own or anyone's delivery ------


def test_an_oversized_dob_is_refused_in_its_place_and_the_kiosk_carries_on(db: Database) -> None:
    """The red-team event: a 60-character dob. PostgreSQL's varchar(16) refused it on every retry."""
    poison = make_event(2)
    poison["subject"] = {"id_number": None, "name": "X", "dob": "1" * 60}
    batch = [make_event(1), poison, make_event(3)]
    result = store_events_detailed(db, batch, now=T0, from_kiosk="kiosk-1", in_order=True)
    assert sorted(result.acked) == sorted(e["event_id"] for e in batch)
    assert sorted(result.stored) == sorted([batch[0]["event_id"], batch[2]["event_id"]])
    assert [i for i, _ in result.rejected] == [poison["event_id"]] and result.deferred == []
    later = store_events_detailed(db, [make_event(4)], now=T0, from_kiosk="kiosk-1", in_order=True)
    assert later.stored == [make_event(4)["event_id"]]  # seq 2 is accounted for: no gap holds 4 back
    with db.begin() as conn:
        assert conn.execute(sa.select(kiosks.c.last_seq)).scalar_one() == 4
        assert conn.execute(sa.select(events.c.subject_dob).where(events.c.seq == 2)).all() == []


def test_a_refused_event_beyond_a_gap_waits_like_any_other(db: Database) -> None:
    poison = {**make_event(3), "verdict": "MAYBE"}
    early = store_events_detailed(db, [poison], now=T0, from_kiosk="kiosk-1", in_order=True)
    assert early.acked == [] and early.deferred == [poison["event_id"]]
    assert count(db, event_rejects) == 0
    done = store_events_detailed(db, [make_event(1), make_event(2), poison], now=T0, from_kiosk="kiosk-1",
                                 in_order=True)  # fmt: skip
    assert poison["event_id"] in done.acked and count(db, event_rejects) == 1


def test_reject_rows_fit_their_columns_whatever_the_event_held(db: Database) -> None:
    ev = {**make_event(1), "event_id": "e" * 300 + "\x00\ud800", "kiosk_id": "k" * 300, "verdict": "?"}
    result = store_events_detailed(db, [ev], now=T0)
    assert result.acked == [ev["event_id"]]  # acked under the id the kiosk sent, so it stops re-sending
    with db.begin() as conn:
        row = conn.execute(sa.select(event_rejects)).one()
    assert len(row.event_id) <= 128 and len(row.kiosk_id) <= 128 and "\x00" not in row.body


def _refuse_checkpoint(db: Database, checkpoint: str) -> None:
    """A row the database refuses although it passed validation (a constraint the wire does not know)."""
    with db.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                f"ALTER TABLE events ADD CONSTRAINT no_poison CHECK (checkpoint_id <> '{checkpoint}')"
            )
        else:
            conn.exec_driver_sql(
                f"CREATE TRIGGER no_poison BEFORE INSERT ON events WHEN NEW.checkpoint_id = '{checkpoint}' "
                "BEGIN SELECT RAISE(ABORT, 'poison'); END"
            )


def test_a_row_the_database_refuses_is_dead_lettered_and_its_commit_group_is_acked(db: Database) -> None:
    _refuse_checkpoint(db, "cp-poison")
    mine = [make_event(1), make_event(2, checkpoint="cp-poison"), make_event(3)]
    neighbour = [make_event(1, kiosk="kiosk-2"), make_event(2, kiosk="kiosk-2")]
    results = store_many(db, [("kiosk-1", mine), ("kiosk-2", neighbour)], now=T0, in_order=True)
    assert sorted(results[0].acked) == sorted(e["event_id"] for e in mine)
    assert results[0].dead_lettered == [mine[1]["event_id"]]
    assert sorted(results[1].acked) == sorted(e["event_id"] for e in neighbour)
    assert sorted(results[1].stored) == sorted(e["event_id"] for e in neighbour)
    later = store_many(db, [("kiosk-1", [make_event(4)])], now=T0, in_order=True)
    assert later[0].stored == [make_event(4)["event_id"]]
    assert count(db, events) == 5
    with db.begin() as conn:
        kept = conn.execute(sa.select(event_rejects.c.event_id, event_rejects.c.reason)).one()
    assert kept.event_id == mine[1]["event_id"] and kept.reason.startswith(NOT_STORABLE)
