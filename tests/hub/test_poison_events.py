"""Poison events end to end (issue 12 item 3): kiosk -> real Mosquitto -> hub ingest on PostgreSQL.

The red-team case: an unsigned `HC1:` whose `dob` is 60 characters. The kiosk denied it but recorded
the unverified subject; PostgreSQL refused the row (`varchar(16)`) on every retry, the kiosk (which
sends in order) never delivered again, and the other kiosks' messages committed in the same group
were not acked either. SQLite accepts the row, which is why no test saw it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from common.trust import TrustStore
from hub.db import Database, open_database
from hub.schema import event_rejects, events, migrate
from kiosk.clock import ClockReading
from kiosk.mqtt.link import KioskLink
from kiosk.record import event_fields
from kiosk.store import KioskStore
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW, Hc1Spec, build_hc1, dcc_payload, make_signer
from testkit.linkrig import T0, drained, fast_link_config, passage_fields, start_hub, wait_for
from testkit.services import MosquittoBroker, fresh_postgres_url
from wire import topics
from wire.cose import ALG_ES256
from wire.events import decode_ack


@pytest.fixture
def pg_hub_db(postgres_url: str) -> Iterator[Database]:
    db = open_database(fresh_postgres_url(postgres_url))
    migrate(db, T0)
    try:
        yield db
    finally:
        db.dispose()


def unsigned_hc1_with_a_long_dob() -> bytes:
    """Signed by a key no kiosk trusts (anyone can make one), carrying a 60-character dob."""
    dcc = {**dcc_payload("v"), "dob": "1" * 60}
    return build_hc1(Hc1Spec(signer=make_signer(ALG_ES256), dcc=dcc)).encode()


def rows(db: Database) -> list[tuple[str, int, str, str | None]]:
    with db.begin() as conn:
        q = sa.select(events.c.kiosk_id, events.c.seq, events.c.verdict, events.c.subject_dob)
        return [tuple(r) for r in conn.execute(q.order_by(events.c.kiosk_id, events.c.seq))]


class AckListener:
    """Watches the hub's acks to a kiosk, as the kiosk would receive them."""

    def __init__(self, broker: MosquittoBroker, kiosk_id: str) -> None:
        self.acked: set[str] = set()
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topics.acks(kiosk_id), qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.acked.update(decode_ack(message.payload))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_the_attack_end_to_end_on_postgresql(
    broker: MosquittoBroker, pg_hub_db: Database, tmp_path: Path
) -> None:
    hub = start_hub(pg_hub_db, broker.port)
    # The attacked kiosk scans the forged code, then goes on with ordinary passages.
    store = KioskStore(tmp_path / "kiosk-1.db")
    raw = unsigned_hc1_with_a_long_dob()
    verdict = Verifier(TrustStore()).verify(raw, NOW)
    assert verdict.outcome.value == "DENY" and verdict.subject is None
    reading = ClockReading(NOW, True, "assumed")
    store.record(event_fields(verdict, reading, raw, "kiosk-1", "cp-1", "self", None))
    for i in range(1, 20):
        store.record(passage_fields(i))
    neighbour = KioskStore(tmp_path / "kiosk-2.db")
    for i in range(20):
        neighbour.record(passage_fields(i, kiosk="kiosk-2"))
    with (
        KioskLink(fast_link_config(broker.port), "kiosk-1", store),
        KioskLink(fast_link_config(broker.port), "kiosk-2", neighbour),
    ):
        wait_for(drained(store), 30, "the attacked kiosk's outbox to drain")
        wait_for(drained(neighbour), 30, "the neighbour's outbox to drain")
    hub.stop()
    stored = rows(pg_hub_db)
    assert [(k, s) for k, s, _, _ in stored] == [("kiosk-1", s) for s in range(1, 21)] + [
        ("kiosk-2", s) for s in range(1, 21)
    ]
    assert stored[0][2:] == ("DENY", None)  # the denial is on record, the unverified dob is not


def test_an_unfixed_kiosks_poison_event_is_refused_acked_and_blocks_nobody(
    broker: MosquittoBroker, pg_hub_db: Database, tmp_path: Path
) -> None:
    """What an older kiosk still sends: the event with the unverified 60-character dob."""
    hub = start_hub(pg_hub_db, broker.port)
    listener = AckListener(broker, "kiosk-1")
    poison = {**passage_fields(0), "seq": 1, "kind": "hc1", "verdict": "DENY", "reasons": ["kid_unknown"],
              "subject": {"id_number": None, "name": "NGUYEN VAN A", "dob": "1" * 60}}  # fmt: skip
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-1", protocol=mqtt.MQTTv5)
    sender.connect(broker.host, broker.port)
    sender.loop_start()
    neighbour = KioskStore(tmp_path / "kiosk-2.db")
    for i in range(20):
        neighbour.record(passage_fields(i, kiosk="kiosk-2"))
    with KioskLink(fast_link_config(broker.port), "kiosk-2", neighbour):
        # The poison and the neighbour's batches reach the hub together (the same commit groups).
        sender.publish(topics.events("kiosk-1"), json.dumps(poison), qos=1).wait_for_publish(5)
        wait_for(lambda: poison["event_id"] in listener.acked, 20, "the poison event to be acked")
        wait_for(drained(neighbour), 30, "the neighbour's outbox to drain")
    sender.loop_stop()
    sender.disconnect()
    listener.close()
    # The attacked kiosk, updated, carries on from seq 2: nothing waits for seq 1 any more.
    store = KioskStore(tmp_path / "kiosk-1.db")
    store.db.execute("UPDATE meta SET value = '2' WHERE key = 'next_seq'")  # seq 1 was the poison
    for i in range(1, 6):
        store.record(passage_fields(i))
    with KioskLink(fast_link_config(broker.port), "kiosk-1", store):
        wait_for(drained(store), 30, "the attacked kiosk's later passages")
    hub.stop()
    assert [(k, s) for k, s, _, _ in rows(pg_hub_db) if k == "kiosk-1"] == [
        ("kiosk-1", s) for s in range(2, 7)
    ]
    with pg_hub_db.begin() as conn:
        reject = conn.execute(sa.select(event_rejects.c.event_id, event_rejects.c.reason)).one()
    assert reject.event_id == poison["event_id"] and reject.reason.startswith("subject")


def test_a_poison_event_recorded_before_the_upgrade_leaves_the_kiosks_outbox(
    broker: MosquittoBroker, pg_hub_db: Database, tmp_path: Path
) -> None:
    """An outbox written by the unfixed kiosk software still holds the 60-character dob: the upgraded
    kiosk sends it as recorded (never stuck on its own store), the hub refuses it in its place and acks."""
    store = KioskStore(tmp_path / "kiosk-1.db")
    old = {**passage_fields(0), "seq": 1, "kind": "hc1", "verdict": "DENY", "reasons": ["kid_unknown"],
           "subject": {"id_number": None, "name": "NGUYEN VAN A", "dob": "1" * 60}}  # fmt: skip
    store.db.execute(
        "INSERT INTO passages(seq, event_id, body, scanned_at) VALUES (1, ?, ?, ?)",
        [old["event_id"], json.dumps(old), old["scanned_at"]],
    )
    store.db.execute("UPDATE meta SET value = '2' WHERE key = 'next_seq'")
    for i in range(1, 10):
        store.record(passage_fields(i))
    hub = start_hub(pg_hub_db, broker.port)
    with KioskLink(fast_link_config(broker.port), "kiosk-1", store):
        wait_for(drained(store), 30, "the outbox, old poison included, to drain")
    hub.stop()
    assert [s for _, s, _, _ in rows(pg_hub_db)] == list(range(2, 11))
    with pg_hub_db.begin() as conn:
        assert conn.execute(sa.select(event_rejects.c.event_id)).scalar_one() == old["event_id"]
