"""The hub's disk fills up under load: nothing is acked that is not on disk, the kiosks keep every
passage meanwhile, and once space is back everything arrives, each event once (real SQLite: its own
"database or disk is full" error, made by capping the file's page count)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import (
    drained,
    fast_link_config,
    hub_database,
    passage_fields,
    start_hub,
    stored_count,
    stored_seqs,
    wait_for,
)
from testkit.services import MosquittoBroker
from tests.support.stress import report


def test_a_full_hub_disk_loses_nothing_and_acks_nothing_it_did_not_store(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    db = hub_database(tmp_path / "hub.db")
    cap: dict[str, int | None] = {"pages": None}

    @sa.event.listens_for(db.engine, "connect")
    def _cap(dbapi_conn: Any, _record: Any) -> None:
        if cap["pages"] is not None:
            dbapi_conn.execute(f"PRAGMA max_page_count = {cap['pages']}")

    with db.engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    cap["pages"] = pages + 8  # room for a few batches, then SQLITE_FULL
    db.engine.dispose()
    hub = start_hub(db, broker.port)
    store = KioskStore(tmp_path / "kiosk.db")
    for i in range(600):
        store.record(passage_fields(i))
    with KioskLink(fast_link_config(broker.port, ack_timeout_s=0.5), "kiosk-1", store) as link:
        wait_for(lambda: hub.errors >= 3, 30, "the hub to hit a full disk")
        assert store.backlog() > 0
        # Every passage that left the kiosk's outbox (acked) is on the hub's disk, and no more
        # (waited for: an ack of the last stored batch may still be on its way to the kiosk).
        wait_for(lambda: stored_count(db) == 600 - store.backlog(), 10, "acked == stored")

        cap["pages"] = None  # space is back (a new connection has no cap)
        db.engine.dispose()
        link.nudge()
        wait_for(drained(store), 60, "the backlog to drain once the disk has space")
    hub.stop()
    report(range(1, 601), stored_seqs(db))
    assert stored_seqs(db) == list(range(1, 601))
    assert stored_count(db) == 600
