"""Issue 12 item 12: an exception in a callback never ends the link's thread, and the store is purged.

paho re-raises what a callback raises out of `loop()`; before the guard, a full disk while saving a
flag update ended the link's thread and the kiosk never delivered again while looking alive.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import kiosk.mqtt.link as link_module
from common.liveness import Heartbeats
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import (
    T0,
    drained,
    fast_link_config,
    hub_database,
    passage_fields,
    start_hub,
    stored_seqs,
    wait_for,
)
from testkit.services import MosquittoBroker
from tests.support.stress import report
from wire import topics
from wire.envelope import Signed, seal

HUB = Ed25519PrivateKey.generate()


def _cap_pages(store: KioskStore) -> None:
    """A full disk for this store: SQLite's own SQLITE_FULL once the file would grow."""
    pages = int(store.db.execute("PRAGMA page_count").fetchone()[0])
    store.db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_while_saving_an_update_does_not_stop_delivery(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    db = hub_database(tmp_path / "hub.db")
    hub = start_hub(db, broker.port)
    store = KioskStore(tmp_path / "kiosk.db")
    store.record(passage_fields(0))
    beats = Heartbeats()

    def save(update: Signed) -> None:  # a service keeping what the hub sent on disk (a command here)
        store.save_document(f"{update.type}-{update.version}", update.version, "x" * 200_000)

    with KioskLink(
        fast_link_config(broker.port), "kiosk-1", store, hub_keys=[HUB.public_key()], on_update=save,
        heartbeats=beats,
    ) as link:  # fmt: skip
        wait_for(drained(store), 20, "the first passage to be delivered")
        _cap_pages(store)
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.connect(broker.host, broker.port)
        publisher.loop_start()
        command = seal(HUB, "command", 1, {"action": "noop"}, T0, target="kiosk-1")
        publisher.publish(topics.commands("kiosk-1"), command, qos=1).wait_for_publish(5)
        wait_for(lambda: sum(link.callback_errors.values()) >= 1, 10, "the update to hit the full disk")
        publisher.loop_stop()
        store.db.execute("PRAGMA max_page_count = 1073741823")  # space again
        for i in range(1, 30):
            store.record(passage_fields(i))
        link.nudge()
        wait_for(drained(store), 20, "passages recorded after the failure to be delivered")
        assert link._thread is not None and link._thread.is_alive()
        assert beats.stale(5.0) == []
        assert link.stats.updates_rejected >= 1 and store.applied_version("command") is None
    hub.stop()
    report(range(1, 31), stored_seqs(db))
    assert stored_seqs(db) == list(range(1, 31))
    assert "link" not in beats.ages()  # a stopped link is no longer expected to beat


def test_the_link_purges_delivered_passages_past_retention(
    broker: MosquittoBroker, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(link_module, "PURGE_FIRST_S", 0.0)
    db = hub_database(tmp_path / "hub.db")
    hub = start_hub(db, broker.port)
    store = KioskStore(tmp_path / "kiosk.db", retention=timedelta(seconds=1))
    for i in range(5):
        store.record(passage_fields(i))
    clock = {"t": 0.0}
    with KioskLink(fast_link_config(broker.port), "kiosk-1", store, monotonic=lambda: clock["t"]) as link:
        wait_for(drained(store), 20, "the passages to be delivered")
        time.sleep(1.1)  # past the retention of the delivered passages
        clock["t"] = link_module.PURGE_INTERVAL_S + 1  # the link's next purge is due
        link.nudge()
        wait_for(lambda: link.stats.purged == 5, 10, "the link to purge")
        assert store.passages() == []
    hub.stop()
