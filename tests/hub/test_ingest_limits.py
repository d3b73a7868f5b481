"""What the hub's ingest worker will parse from MQTT: bounded in bytes and in events per message, checked
before any parsing or storing, against a real Mosquitto. Over the limits: dropped and counted, and the
worker goes on with the next message."""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt

from demo.mosquitto import MosquittoBroker
from testkit.hub_events import make_event
from testkit.linkrig import hub_database, start_hub, stored_count, wait_for
from wire import topics
from wire.events import MAX_BATCH, MAX_MESSAGE_BYTES


def test_oversized_messages_and_batches_are_dropped_before_parsing(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    db = hub_database(tmp_path / "hub.db")
    hub = start_hub(db, broker.port)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-1", protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        topic = topics.events("kiosk-1")
        too_big = json.dumps([{"pad": "x" * 1000}] * (MAX_MESSAGE_BYTES // 1000 + 1)).encode()
        assert len(too_big) > MAX_MESSAGE_BYTES
        too_many = json.dumps([{}] * (MAX_BATCH + 1)).encode()
        assert len(too_many) < MAX_MESSAGE_BYTES
        for payload in (too_big, too_many, json.dumps(make_event(1)).encode()):
            client.publish(topic, payload, qos=1).wait_for_publish(10)
        wait_for(lambda: stored_count(db) == 1, 20, "the good event after the bad ones")
    finally:
        client.loop_stop()
        client.disconnect()
        hub.stop()
    assert hub.errors == 2  # the two oversized messages, counted; neither reached the store
