"""The kiosk's local record on a real SQLite file: gap-free, durable, and never silently lossy."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.store import KioskStore
from testkit.linkrig import T0 as NOW
from testkit.linkrig import passage_fields
from tests.conftest import REPO_ROOT
from tests.support.stress import report


def fields(i: int = 0) -> dict[str, Any]:
    return passage_fields(i)


@pytest.fixture
def store(tmp_path: Path) -> KioskStore:
    return KioskStore(tmp_path / "kiosk.db")


def test_seq_is_gap_free_from_one_and_survives_reopening(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "k.db")
    assert [store.record(fields(i)).seq for i in range(3)] == [1, 2, 3]
    store.close()
    again = KioskStore(tmp_path / "k.db")
    assert again.record(fields(3)).seq == 4


def test_seq_is_never_reused_after_delivered_rows_are_purged(store: KioskStore) -> None:
    events = [store.record(fields(i)) for i in range(5)]
    store.mark_delivered([e.event_id for e in events], NOW)
    store.purge(NOW + timedelta(days=30))
    assert store.passages() == []
    assert store.record(fields(9)).seq == 6


def test_outbox_is_undelivered_in_seq_order_and_acks_remove_entries(store: KioskStore) -> None:
    events = [store.record(fields(i)) for i in range(6)]
    assert [e.seq for e in store.outbox(limit=10)] == [1, 2, 3, 4, 5, 6]
    assert store.mark_delivered([events[1].event_id, events[3].event_id], NOW) == 2
    assert store.mark_delivered([events[1].event_id], NOW) == 0
    assert [e.seq for e in store.outbox(limit=10)] == [1, 3, 5, 6]
    assert [e.seq for e in store.outbox(limit=2, after_seq=3)] == [5, 6]
    assert store.backlog() == 4


def test_retention_purges_only_delivered_passages(store: KioskStore) -> None:
    events = [store.record(fields(i)) for i in range(4)]
    store.mark_delivered([events[0].event_id, events[1].event_id], NOW)
    assert store.purge(NOW + timedelta(days=1)) == 0  # delivered, but younger than retention
    assert store.purge(NOW + timedelta(days=8)) == 2
    assert [e.seq for e in store.passages()] == [3, 4]
    assert store.purge(NOW + timedelta(days=800)) == 0  # undelivered are never purged


def test_size_cap_purges_delivered_early_and_alarms_when_only_undelivered_remain(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "k.db", size_cap_bytes=64 * 1024)
    events = [store.record(fields(i)) for i in range(400)]
    store.mark_delivered([e.event_id for e in events[:300]], NOW)
    store.purge(NOW)
    assert store.backlog() == 100
    if store.size_bytes() > store.size_cap_bytes:
        assert "size_cap" in store.health.alarms
    assert {e.seq for e in store.outbox(limit=1000)} == set(range(301, 401))


def test_a_full_disk_is_reported_passages_are_held_then_written_in_order(store: KioskStore) -> None:
    store.record(fields(0))
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")  # the disk is now full
    held = [store.record(fields(i)) for i in range(1, 40)]
    assert held[-1] is None
    assert "disk_full" in store.health.alarms
    assert store.health.held_in_memory > 0
    store.db.execute("PRAGMA max_page_count=1073741823")  # space freed
    assert store.retry_held() == 0
    assert store.health.ok
    assert [e.seq for e in store.passages()] == list(range(1, 41))
    assert [e.scanned_at for e in store.passages()] == [fields(i)["scanned_at"] for i in range(40)]


def test_a_read_only_store_is_reported_not_fatal(store: KioskStore) -> None:
    store.record(fields(0))
    store.db.execute("PRAGMA query_only=1")  # as when the card is remounted read-only after I/O errors
    assert store.record(fields(1)) is None
    assert store.mark_delivered([store.passages()[0].event_id], NOW) == 0
    assert "read_only" in store.health.alarms
    store.db.execute("PRAGMA query_only=0")
    assert store.retry_held() == 0 and store.health.ok


def test_overflowing_the_memory_spill_is_counted_loudly(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "k.db", memory_spill_max=100)
    store.db.execute("PRAGMA query_only=1")
    for i in range(130):
        store.record(fields(i))
    assert store.health.lost == 30
    assert "spill_overflow" in store.health.alarms


def test_applied_versions_and_documents(store: KioskStore) -> None:
    assert store.applied_version("flags") is None
    store.save_document("trust", 3, '{"keys": []}', version_type="trust")
    assert store.document("trust") == (3, '{"keys": []}')
    assert store.applied_version("trust") == 3


RECORDER = textwrap.dedent(
    """
    import sys
    from tests.kiosk.store.test_store import fields
    from kiosk.store import KioskStore
    store = KioskStore(sys.argv[1])
    for i in range(100000):
        event = store.record(fields(i))
        print("SHOWN", event.seq, event.event_id, flush=True)  # the light would show now
    """
)


def test_every_passage_reported_shown_survives_sigkill(tmp_path: Path) -> None:
    """Power-cut stand-in: SIGKILL right after passages were 'shown'; each shown one is on disk."""
    path = tmp_path / "k.db"
    rng = random.Random(7)
    shown: dict[int, str] = {}
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", RECORDER, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 40)):
            line = proc.stdout.readline()
            _, seq, event_id = line.split()
            shown[int(seq)] = event_id
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stored = {e.seq: e.event_id for e in KioskStore(path).passages()}
    report(shown.values(), [e.event_id for e in KioskStore(path).passages()], "shown vs stored")
    assert all(stored.get(seq) == event_id for seq, event_id in shown.items())
    assert sorted(stored) == list(range(1, len(stored) + 1))  # gap-free across crashes
