"""The broker fixture really is a broker we own: it carries messages and can be killed and revived."""

from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
import pytest

from testkit.services import MosquittoBroker


def _roundtrip(broker: MosquittoBroker, payload: bytes) -> bytes:
    got: queue.Queue[bytes] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, msg: got.put(msg.payload)
    sub.connect(broker.host, broker.port)
    sub.subscribe("t/x", qos=1)
    sub.loop_start()
    try:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        # Subscribing is asynchronous: publish until the subscriber sees a message (bounded).
        for _ in range(50):
            pub.publish("t/x", payload, qos=1).wait_for_publish(timeout=2)
            try:
                return got.get(timeout=0.1)
            except queue.Empty:
                continue
        raise AssertionError("message never arrived")
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_broker_carries_messages_and_survives_restart(broker: MosquittoBroker) -> None:
    assert _roundtrip(broker, b"one") == b"one"
    broker.kill()
    assert not broker.running
    with pytest.raises(ConnectionRefusedError):
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2).connect(broker.host, broker.port)
    broker.start()
    assert _roundtrip(broker, b"two") == b"two"
