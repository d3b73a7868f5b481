"""The kiosk killed with SIGKILL at random points, again and again: nothing lost, nothing twice, in order."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import drained, fast_link_config, hub_database, start_hub, stored_seqs, wait_for
from testkit.services import MosquittoBroker
from tests.support.kiosk_child import record_and_link_forever
from tests.support.stress import report

RUNS = 50


def test_sigkill_loop_loses_nothing_and_stores_nothing_twice(broker: MosquittoBroker, tmp_path: Path) -> None:
    # Children fork from a clean server process that already imported the kiosk: each run starts in
    # milliseconds, and no thread of this test process is copied into a child.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.support.kiosk_child"])
    db = hub_database(tmp_path / "hub.db")
    hub = start_hub(db, broker.port)
    store_path = tmp_path / "kiosk.db"
    rng = random.Random(2026)
    try:
        for run in range(RUNS):
            child = ctx.Process(target=record_and_link_forever, args=(str(store_path), broker.port, run))
            child.start()
            time.sleep(rng.uniform(0.05, 0.4))
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            assert child.exitcode == -signal.SIGKILL
        store = KioskStore(store_path)
        recorded = [e.seq for e in store.passages()]
        assert len(recorded) > RUNS  # every run recorded something before it died
        with KioskLink(fast_link_config(broker.port), "kiosk-1", store):
            wait_for(drained(store), 60, "the outbox to drain after the crash loop")
    finally:
        hub.stop()
    report(range(1, len(recorded) + 1), stored_seqs(db))
    assert recorded == list(range(1, len(recorded) + 1))  # gap-free on the kiosk across 50 crashes
    assert stored_seqs(db) == recorded  # each exactly once at the hub, in the kiosk's order
