"""The one MQTT client (common/mqttclient.py) against a real Mosquitto: routes, counted handler errors,
subscriptions re-made after a broker restart, publishes from many threads, heartbeats, 3.1.1."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from common.backoff import Backoff
from common.liveness import Heartbeats
from common.mqttclient import ClientSettings, MqttClient
from testkit.linkrig import wait_for
from testkit.services import MosquittoBroker


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def __call__(self, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.got.append((message.topic, message.payload))

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.got if t == topic]


def settings(broker: MosquittoBroker, client_id: str, **changes: object) -> ClientSettings:
    base: dict[str, object] = {"host": broker.host, "port": broker.port, "backoff_min_s": 0.05}
    return ClientSettings(client_id=client_id, **{**base, **changes})


@pytest.fixture
def sender(broker: MosquittoBroker) -> Iterator[mqtt.Client]:
    """A plain paho client posing as the other side."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sender", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def send(sender: mqtt.Client, topic: str, payload: bytes) -> None:
    sender.publish(topic, payload, qos=1).wait_for_publish(5)


def message(topic: str) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=topic.encode())
    msg.payload = b"{}"
    return msg


def test_a_message_goes_to_every_route_whose_filter_matches_and_shared_groups_match_their_filter() -> None:
    client = MqttClient(ClientSettings(client_id="t"), name="t")
    events, status, everything = Inbox(), Inbox(), Inbox()
    client.route("$share/hub-p0-of-2/cp/kiosks/+/events", events, name="events")
    client.route("cp/kiosks/+/status", status, name="status")
    client.route("cp/#", everything, name="all")
    assert client.dispatch(message("cp/kiosks/k1/events")) == 2
    assert client.dispatch(message("cp/kiosks/k1/status")) == 2
    assert client.dispatch(message("elsewhere")) == 0
    assert [t for t, _ in events.got] == ["cp/kiosks/k1/events"]
    assert [t for t, _ in status.got] == ["cp/kiosks/k1/status"]
    assert len(everything.got) == 2
    assert (client.stats.messages, client.stats.unrouted) == (3, 1)
    client.close()


def test_a_failing_handler_is_counted_and_the_connection_carries_on(
    broker: MosquittoBroker, sender: mqtt.Client
) -> None:
    good = Inbox()

    def bad(msg: mqtt.MQTTMessage) -> None:
        if msg.payload == b"boom":
            raise RuntimeError("a handler's bug")
        good(msg)

    client = MqttClient(settings(broker, "t-errors"), name="t-errors")
    client.route("t/bad", bad, name="bad")
    client.route("t/good", good, name="good")
    client.start()
    try:
        assert client.subscribed.wait(10)  # subscriptions are acknowledged asynchronously
        send(sender, "t/bad", b"boom")
        send(sender, "t/bad", b"fine")
        send(sender, "t/good", b"also fine")
        wait_for(lambda: len(good.got) == 2, 10, "the messages after the failure")
        assert client.handler_errors == {"bad": 1}
        assert client.problems() == [] and client.stats.connects == 1
    finally:
        client.stop()


def test_subscriptions_are_made_again_after_the_broker_restarts(
    broker: MosquittoBroker,
) -> None:
    """A clean session: the restarted broker knows nothing of us, the wrapper subscribes again."""
    inbox = Inbox()
    reconnected: list[int] = []
    client = MqttClient(
        settings(broker, "t-restart"), name="t-restart", on_connected=lambda: reconnected.append(1)
    )
    client.route("t/x", inbox)
    client.start()
    try:
        assert client.connected.wait(10)
        broker.kill()
        wait_for(lambda: not client.is_connected, 10, "the loss to be noticed")
        broker.start()
        wait_for(lambda: client.stats.connects == 2, 30, "the reconnect")
        assert client.stats.disconnects == 1 and len(reconnected) == 2
        assert client.subscribed.wait(10)
        other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late", protocol=mqtt.MQTTv5)
        other.connect(broker.host, broker.port)
        other.loop_start()
        send(other, "t/x", b"after the restart")
        other.loop_stop()
        other.disconnect()
        wait_for(lambda: inbox.payloads("t/x") == [b"after the restart"], 10, "the message after the restart")
    finally:
        client.stop()


def test_publishes_from_many_threads_arrive_whole_and_in_each_threads_order(broker: MosquittoBroker) -> None:
    """paho writes only from the network thread: concurrent writers would interleave packet bytes."""
    inbox = Inbox()
    client = MqttClient(settings(broker, "t-threads"), name="t-threads")
    client.route("t/loop/+", inbox)
    client.start()
    try:
        assert client.subscribed.wait(10)

        def publish(n: int) -> None:
            for i in range(200):
                client.publish(f"t/loop/{n}", f"{n}:{i}".encode() + b"x" * random.randrange(0, 4000))

        threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: len(inbox.got) == 800, 30, "all 800 messages back")
        for n in range(4):
            seen = [int(p.split(b":")[1].rstrip(b"x")) for p in inbox.payloads(f"t/loop/{n}")]
            assert seen == list(range(200))
        assert client.handler_errors == {} and client.stats.connects == 1
    finally:
        client.stop()


def test_the_network_thread_beats_its_heartbeat_until_stopped(broker: MosquittoBroker) -> None:
    beats = Heartbeats()
    client = MqttClient(settings(broker, "t-beat"), name="t-beat", heartbeats=beats).start()
    try:
        wait_for(lambda: "t-beat" in beats.ages(), 10, "a heartbeat")
        assert client.connected.wait(10)
        time.sleep(1.5)
        assert beats.stale(1.0) == []  # an idle connection still beats
    finally:
        client.stop()
    assert "t-beat" not in beats.ages() and client.problems() == []


def test_mqtt_3_1_1_with_a_persistent_session_keeps_what_was_sent_while_away(
    broker: MosquittoBroker, sender: mqtt.Client
) -> None:
    inbox = Inbox()
    make = settings(broker, "t-311", protocol="3.1.1", session_expiry_s=3600)
    client = MqttClient(make, name="t-311")
    client.route("t/311", inbox)
    client.start()
    assert client.subscribed.wait(10)
    client.stop()
    send(sender, "t/311", b"while away")  # queued by the broker for the persistent session
    again = MqttClient(make, name="t-311")
    again.route("t/311", inbox)
    again.start()
    try:
        wait_for(lambda: inbox.payloads("t/311") == [b"while away"], 10, "the queued message")
    finally:
        again.stop()


def test_reconnect_delays_are_full_jitter_below_an_exponential_bound() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(40)]
    bounds = [min(8.0, 0.5 * 2**i) for i in range(40)]
    assert all(0.25 <= d <= b for d, b in zip(delays, bounds, strict=True))
    assert len({round(d, 3) for d in delays[5:]}) > 30  # spread, not in lockstep
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_a_publish_before_the_first_connection_is_sent_once_connected(broker: MosquittoBroker) -> None:
    """The hub's flag loop may publish before its connection is up: queued by paho, not dropped."""
    inbox = Inbox()
    listener = MqttClient(settings(broker, "t-listener"), name="t-listener")
    listener.route("t/early", inbox)
    listener.start()
    early = MqttClient(settings(broker, "t-early"), name="t-early")
    try:
        assert listener.subscribed.wait(10)
        assert early.publish("t/early", b"before connecting").rc == mqtt.MQTT_ERR_NO_CONN
        early.start()
        wait_for(lambda: inbox.payloads("t/early") == [b"before connecting"], 10, "the early message")
    finally:
        early.stop()
        listener.stop()
