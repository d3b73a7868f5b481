"""The one MQTT client of every process: connect, TLS, reconnect with jitter, routes, errors counted.

Kiosk and hub used to build three paho clients by hand, each with its own reconnect (paho's own
delays without jitter on the hub), its own way of subscribing and an if/elif over topics. This module
is the one way a process talks MQTT:

* `ClientSettings` says where and how: broker, TLS client certificate, MQTT 5 (with a session that
  outlives a reconnect when `session_expiry_s` is set) or 3.1.1, or "auto": MQTT 5 and, when the
  broker refuses it, 3.1.1 from then on.
* `MqttClient.route(filter, handler)` is the dispatch table: a message goes to every handler whose
  topic filter matches it (a shared subscription `$share/<group>/<filter>` matches as `<filter>`).
  The subscriptions are made again on every (re)connect, before `on_connected` runs.
* Every handler and hook runs guarded: an exception is logged and counted in `handler_errors` under
  the route's name, and the network thread carries on (paho re-raises a callback's exception out of
  its loop, which used to end delivery for good). `stats` counts connects, losses, messages and
  messages no route wanted; both are plain attributes for the status message and metrics.
* Reconnects wait an exponential delay with full jitter (`common.backoff`), so a fleet that lost its
  broker does not come back in lockstep; a CONNECT the broker never answers is given up after
  `connack_timeout_s`.
* One thread owns the paho client. Either the owner drives it (`step()` from its own loop: the kiosk
  link, which publishes from that thread too) or `start()` runs a network thread that beats the
  process's `Heartbeats` every pass (the hub). `publish()` is safe from any thread: paho only queues
  the packet (its external-loop interface, `on_socket_register_write`) and a wake-up byte makes the
  network thread write it at once, so two threads never write to the socket together.

Delivery guarantees stay with the callers: QoS 1 here, and what an ack means (stored, applied) is
decided by the handler that sends it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.backoff import Backoff
from common.liveness import CallbackErrors, Heartbeats, guarded

log = logging.getLogger(__name__)

Handler = Callable[[mqtt.MQTTMessage], None]
Protocol = Literal["auto", "5", "3.1.1"]
REFUSED_PROTOCOL = (1, 0x84)  # 3.1.1 "unacceptable protocol version", MQTT 5 "unsupported protocol version"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Client-certificate TLS: the CA that signed the broker, and this client's certificate and key."""

    ca_file: str
    cert_file: str
    key_file: str


@dataclass(frozen=True, slots=True)
class ClientSettings:
    client_id: str
    host: str = "127.0.0.1"
    port: int = 1883
    protocol: Protocol = "5"
    keepalive_s: int = 30
    # Set: a session the broker keeps for this long while we are away (MQTT 5), or a persistent
    # session (3.1.1, clean_session false), so QoS 1 messages queued meanwhile are not lost.
    session_expiry_s: int | None = None
    tls: TlsFiles | None = None
    backoff_min_s: float = 0.2
    backoff_max_s: float = 10.0
    connack_timeout_s: float = 10.0
    max_inflight: int | None = None  # paho's window of unacknowledged QoS 1 publishes (default 20)


@dataclass(frozen=True, slots=True)
class Route:
    topic_filter: str  # as subscribed (a shared subscription included)
    handler: Handler
    name: str  # the key of `handler_errors`
    qos: int = 1

    @property
    def match_filter(self) -> str:
        """The filter a topic is matched against: `$share/<group>/` is not part of any topic."""
        if self.topic_filter.startswith("$share/"):
            return self.topic_filter.split("/", 2)[2]
        return self.topic_filter


@dataclass
class ClientStats:
    connects: int = 0
    disconnects: int = 0  # connections lost (or closed) after they were up
    connect_failures: int = 0  # attempts that did not end in a CONNACK
    messages: int = 0  # messages received
    unrouted: int = 0  # messages no route matched (subscribed once, or retained from before)
    last_error: str | None = None  # why the last connection ended or failed


class MqttClient:
    """One broker connection with a dispatch table; see the module docstring."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        name: str,
        heartbeats: Heartbeats | None = None,
        errors: CallbackErrors | None = None,
        will: Callable[[], tuple[str, bytes]] | None = None,
        on_connected: Callable[[], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = name  # the heartbeat and thread name; prefixes hook names in handler_errors
        self.heartbeats = heartbeats if heartbeats is not None else Heartbeats(monotonic)
        self.handler_errors = errors if errors is not None else CallbackErrors()
        self.stats = ClientStats()
        self.connected = threading.Event()  # set while a connection is up (after its CONNACK)
        # Set once the broker acknowledged every route's subscription on this connection (SUBACK): only
        # then is a message published elsewhere sure to reach us. Cleared with `connected`.
        self.subscribed = threading.Event()
        self._pending_subacks: set[int] = set()
        self.routes: list[Route] = []
        self._will = will
        self._on_connected = guarded(f"{name}.on_connect", self.handler_errors, on_connected or _nothing)
        self._on_lost = guarded(f"{name}.on_disconnect", self.handler_errors, on_lost or _nothing)
        self._monotonic = monotonic
        self._backoff = Backoff(settings.backoff_min_s, settings.backoff_max_s)
        self._protocol = mqtt.MQTTv311 if settings.protocol == "3.1.1" else mqtt.MQTTv5
        self._client: mqtt.Client | None = None
        self._client_lock = threading.Lock()
        self._up = False  # what the network thread believes; `connected` mirrors it for other threads
        self._awaiting_connack = False
        self._next_attempt = 0.0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._closing = False

    # -- the dispatch table ----------------------------------------------------------------------

    def route(self, topic_filter: str, handler: Handler, *, name: str | None = None, qos: int = 1) -> None:
        """Send messages matching `topic_filter` to `handler` (guarded, counted under `name`).

        Declare routes before the first connection: they are subscribed on every (re)connect."""
        self.routes.append(Route(topic_filter, handler, name or f"{self.name}:{topic_filter}", qos))

    def dispatch(self, message: mqtt.MQTTMessage) -> int:
        """Hand a message to every matching route; returns how many took it (errors are counted)."""
        self.stats.messages += 1
        taken = 0
        for route in self.routes:
            if mqtt.topic_matches_sub(route.match_filter, message.topic):
                taken += 1
                try:
                    route.handler(message)
                except Exception:
                    self.handler_errors[route.name] += 1
                    log.exception(
                        "%s failed on %s (%d so far); carrying on",
                        route.name, message.topic, self.handler_errors[route.name],
                    )  # fmt: skip
        if not taken:
            self.stats.unrouted += 1
        return taken

    # -- publishing (any thread) -----------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._up

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Queue a message; the network thread writes it.

        paho keeps a QoS 1 message queued while disconnected and sends it after the next CONNACK
        (`rc` then says MQTT_ERR_NO_CONN)."""
        info = self._ensure_client().publish(topic, payload, qos=qos, retain=retain)
        self.wake()
        return info

    def _ensure_client(self) -> mqtt.Client:
        """The paho client, made on first use (a publish before the first connection is queued)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def wake(self) -> None:
        """Cut the network thread's wait short (something was queued, or its owner has work)."""
        with contextlib.suppress(BlockingIOError, OSError):  # a byte is already waiting, or we are closed
            self._wake_w.send(b"\0")

    # -- the network thread ----------------------------------------------------------------------

    def start(self) -> MqttClient:
        """Run the network thread (`step` in a loop, a heartbeat per pass) until `stop`."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.heartbeats.beat(self.name)
                try:
                    self.step(0.5)
                except Exception as exc:  # a bug must not end the connection for good
                    self.handler_errors[f"{self.name}.loop"] += 1
                    log.exception("%s: a pass of the network loop failed", self.name)
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    self._stop.wait(0.5)
        finally:
            self.heartbeats.forget(self.name)

    def problems(self) -> list[str]:
        """What keeps the watchdog from being pinged: the network thread has ended while not stopped."""
        thread = self._thread
        if thread is None or self._stop.is_set() or thread.is_alive():
            return []
        return [f"{thread.name} (MQTT network thread) has ended"]

    def stop(self, farewell: tuple[str, bytes] | None = None, timeout: float = 5.0) -> None:
        """Stop the network thread, then `close` (with the farewell, if connected)."""
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close(farewell)

    def step(self, timeout: float = 0.05) -> None:
        """One pass: (re)connect when due, then read, write and keep alive for up to `timeout` seconds."""
        now = self._monotonic()
        client = self._client
        if client is None or not client.is_connected():
            if self._up:
                self._lost("connection closed")
            if now >= self._next_attempt:
                self._connect()
        client = self._client
        if client is not None and client.socket() is not None:
            rc = self._io(client, timeout)
            failed = rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN)
            if failed and self._up:
                self._lost(mqtt.error_string(rc))
            elif failed and self._awaiting_connack:  # dropped before the CONNACK came
                self._awaiting_connack = False
                self._retry_later(f"connection closed during connect ({mqtt.error_string(rc)})")
        else:
            self._idle(min(timeout, max(0.0, self._next_attempt - self._monotonic())))

    def _idle(self, seconds: float) -> None:
        """Wait without a socket: until `seconds` pass or `wake()` is called."""
        if self._closed:
            self._stop.wait(seconds)
            return
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            self._drain_wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _io(self, client: mqtt.Client, timeout: float) -> int:
        """paho's external-loop interface: our select, its reads, writes and keepalive."""
        sock = client.socket()
        if sock is None:
            return mqtt.MQTT_ERR_NO_CONN
        pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0  # TLS bytes select cannot see
        wlist = [sock] if client.want_write() else []
        try:
            readable, writable, _ = select.select(
                [sock, self._wake_r], wlist, [], 0.0 if pending else timeout
            )
        except (OSError, ValueError, TypeError):  # the socket was closed under us
            return mqtt.MQTT_ERR_CONN_LOST
        if self._wake_r in readable:
            self._drain_wake()
        rc: int = mqtt.MQTT_ERR_SUCCESS
        if sock in readable or pending:
            rc = client.loop_read()
            if rc or client.socket() is None:
                return rc or mqtt.MQTT_ERR_CONN_LOST
        if sock in writable or client.want_write():
            rc = client.loop_write()
            if rc or client.socket() is None:
                return rc or mqtt.MQTT_ERR_CONN_LOST
        return client.loop_misc()

    # -- connecting ------------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        s = self.settings
        if self._protocol == mqtt.MQTTv5:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5
            )
        else:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=s.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=s.session_expiry_s is None,
            )
        if s.tls is not None:
            client.tls_set(
                ca_certs=s.tls.ca_file,
                certfile=s.tls.cert_file,
                keyfile=s.tls.key_file,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if s.max_inflight is not None:
            client.max_inflight_messages_set(s.max_inflight)
        if self._will is not None:
            topic, payload = self._will()
            client.will_set(topic, payload, qos=1, retain=True)
        # Our thread writes: paho only queues (and calls this) when another thread publishes.
        client.on_socket_register_write = lambda *_a: self.wake()
        client.on_socket_unregister_write = _nothing
        client.on_connect = self._connack
        client.on_disconnect = self._disconnected
        client.on_subscribe = self._suback
        client.on_message = self._message
        return client

    def _connect(self) -> None:
        s = self.settings
        try:
            client = self._ensure_client()
            if self._protocol == mqtt.MQTTv5:
                props = None
                if s.session_expiry_s is not None:
                    # paho's Properties has no annotations (paho-mqtt 2.1 ships none for it)
                    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                    props.SessionExpiryInterval = s.session_expiry_s
                client.connect(
                    s.host,
                    s.port,
                    s.keepalive_s,
                    clean_start=s.session_expiry_s is None,
                    properties=props,
                )
            else:
                client.connect(s.host, s.port, s.keepalive_s)
        except (OSError, ssl.SSLError) as exc:
            self.stats.connect_failures += 1
            self._retry_later(f"connect failed: {exc}")
            return
        # CONNECT is queued; until the broker's CONNACK arrives (slower over TLS, on a Pi, on a busy
        # broker) we are not connected: do not open another connection over this one.
        self._next_attempt = self._monotonic() + s.connack_timeout_s
        self._awaiting_connack = True

    def _retry_later(self, why: str) -> None:
        delay = self._backoff.next_delay()
        self._next_attempt = self._monotonic() + delay
        self.stats.last_error = why
        log.info("%s: %s; retrying in %.1fs", self.name, why, delay)

    def _connack(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._awaiting_connack = False
        if reason.is_failure:
            self.stats.connect_failures += 1
            if (
                self._protocol == mqtt.MQTTv5
                and self.settings.protocol == "auto"
                and reason.value in REFUSED_PROTOCOL
            ):
                log.warning("%s: broker refuses MQTT 5: falling back to 3.1.1", self.name)
                self._protocol = mqtt.MQTTv311
                with self._client_lock:
                    self._client = None
                self._next_attempt = self._monotonic()
                return
            self._retry_later(f"connection refused: {reason}")
            return
        self._up = True
        self.stats.connects += 1
        self._backoff.reset()
        self._pending_subacks = set()
        for route in self.routes:
            _rc, mid = client.subscribe(route.topic_filter, qos=route.qos)
            if mid is not None:
                self._pending_subacks.add(mid)
        if not self._pending_subacks:
            self.subscribed.set()
        log.info("%s: connected to %s:%d", self.name, self.settings.host, self.settings.port)
        self._on_connected()
        self.connected.set()  # after the subscriptions and the owner's own start are queued

    def _suback(self, _c: mqtt.Client, _u: Any, mid: int, _reasons: Any, _props: Any) -> None:
        self._pending_subacks.discard(mid)
        if self._up and not self._pending_subacks:
            self.subscribed.set()

    def _disconnected(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if self._up and not self._closing:
            self._lost(str(reason))

    def _message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.dispatch(message)

    def _lost(self, why: str) -> None:
        self._up = False
        self.connected.clear()
        self.subscribed.clear()
        self.stats.disconnects += 1
        self._retry_later(f"disconnected ({why})")
        self._on_lost(why)

    def close(self, farewell: tuple[str, bytes] | None = None, wait_s: float = 2.0) -> None:
        """Say `farewell` (retained; e.g. a status "offline") if connected, then disconnect cleanly.

        Call from the thread that drives the client, or after `stop` ended the network thread."""
        client = self._client
        self._closing = True  # the disconnect below is ours: not a loss to report or retry
        if client is not None:
            if self._up and farewell is not None:
                info = client.publish(farewell[0], farewell[1], qos=1, retain=True)
                deadline = self._monotonic() + wait_s
                while not info.is_published() and self._monotonic() < deadline and client.socket():
                    self._io(client, 0.05)
            if client.socket() is not None:
                client.disconnect()
                self._io(client, 0.1)
        self._up = False
        self.connected.clear()
        self.subscribed.clear()
        self._client = None
        if not self._closed:
            self._closed = True
            self._wake_r.close()
            self._wake_w.close()


def _nothing(*_args: Any) -> None:
    return None
