"""The hub's ingest worker (and status subscriber) outlive what their callbacks meet (issue 12 item 12).

paho re-raises a callback's exception out of its network thread: before the guard, one database error
while writing a kiosk's status row ended that thread, and no event was acked again while `hub serve`
looked alive. Real Mosquitto, real SQLite; the database error is SQLite's own (a trigger refuses the row).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.flagkey import DEFAULT_KEY
from hub.flag_publisher import FlagPublisher
from hub.fleet import record_status
from hub.mqtt_ingest import IngestWorker
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import (
    drained,
    fast_link_config,
    hub_database,
    passage_fields,
    stored_seqs,
    wait_for,
)
from testkit.services import MosquittoBroker
from wire import topics
from wire.status import KioskStatus

HUB = Ed25519PrivateKey.generate()


def test_a_database_error_while_writing_a_status_row_does_not_stop_ingest(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """The hub process's one status subscriber (the flag publisher's connection) hands each status to
    the fleet recorder, as `hub serve` wires it; its database error is counted and nothing stops."""
    db = hub_database(tmp_path / "hub.db")
    with db.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER no_status BEFORE INSERT ON kiosks WHEN NEW.status IS NOT NULL "
            "BEGIN SELECT RAISE(ABORT, 'status rows refused'); END"
        )

    def on_status(kiosk_id: str, status: KioskStatus) -> None:
        record_status(db, kiosk_id, status, now=datetime.now(UTC))

    worker = IngestWorker(db, "127.0.0.1", broker.port).start()
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port, on_status=on_status).start()
    assert worker.connected.wait(10) and publisher.connected.wait(10)
    store = KioskStore(tmp_path / "kiosk.db")
    with KioskLink(fast_link_config(broker.port), "kiosk-1", store):
        wait_for(
            lambda: publisher.callback_errors["fleet.record_status"] >= 1, 20, "a status row to be refused"
        )
        # Garbage too: too deep for json, and a number beyond Python's digit limit.
        junk = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        junk.connect(broker.host, broker.port)
        junk.loop_start()
        for payload in (b"[" * 200_000 + b"]" * 200_000, b'{"seq": ' + b"9" * 5000 + b"}"):
            junk.publish(topics.events("kiosk-9"), payload, qos=1).wait_for_publish(5)
            junk.publish(topics.status("kiosk-9"), payload, qos=1).wait_for_publish(5)
        junk.loop_stop()
        junk.disconnect()
        for i in range(50):
            store.record(passage_fields(i))
        wait_for(drained(store), 30, "passages to be acked after the refused status rows")
        wait_for(lambda: worker.refused_messages == 2, 10, "the garbage events to be refused")
        wait_for(lambda: publisher.refused_statuses == 2, 10, "the garbage statuses to be refused")
        assert worker.problems() == [] and publisher.problems() == []
        assert sum(worker.callback_errors.values()) == 0  # refused with a reason, not failed
    worker.stop()
    publisher.stop()
    assert stored_seqs(db) == list(range(1, 51))
