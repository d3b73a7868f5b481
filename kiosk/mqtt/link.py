"""The kiosk's link to the hub over MQTT: end-to-end delivery of passages, signed updates down.

paho-mqtt keeps unsent messages only in memory and a broker drops messages past its queue limits,
so delivery is this module's job, end to end:

- passages are read from the store's outbox in `seq` order and published as batches (QoS 1);
- a passage leaves the outbox only when the *hub's* ack names it (sent after the hub's commit);
- if the oldest batch in flight is not acked within `ack_timeout_s`, or the connection drops,
  everything not yet acked is sent again from the oldest (go-back-N): the hub stores each
  `event_id` once, so re-sending is always safe and keeps the order;
- after an ack timeout the window shrinks to one batch and grows by one with each batch acked
  (TCP's slow start). Re-sending the whole window again and again was the cause of the outbox
  that stopped draining after broker and hub restarts: the broker hands a shared subscription's
  messages round robin to its members, a dead hub worker's session included, so with an even
  number of batches per round the oldest one reached the dead member every time, and the hub,
  storing in seq order, waited for it forever. A window of one alternates; it also stops a
  busy hub from being handed the same window again while it is still working on the first copy;
- reconnects use exponential backoff with full jitter, MQTT 5 with a session expiry (3.1.1
  where the broker is older), a retained status and a will that says "offline".

Everything the hub pushes down (flag deltas, heads and chunks, trust lists, commands) arrives in a
signed envelope (wire/envelope.py) and is handed on only if it verifies against the hub's key; flag
updates go to the kiosk's one owner of flag state (kiosk/flagsync.py), which orders, persists and
checks them against the hub's head, and whose wish for a resync (`resync_buckets`) the status carries;
other updates are applied only if their version is newer than what was applied.

One network thread owns the paho client (connect, loop, publish, callbacks), so there are no
cross-thread races inside paho; other threads only call `nudge()` and read `stats`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.liveness import CallbackErrors, Heartbeats, guarded
from kiosk import __version__
from kiosk.docsync import DOC_TYPES, DocSync
from kiosk.flagsync import FLAG_TYPES, FlagSync
from kiosk.mqtt.backoff import Backoff
from kiosk.mqtt.config import MqttConfig
from kiosk.mqtt.hubkeys import HubKeyRing
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from wire import topics
from wire.envelope import Signed, open_envelope
from wire.errors import WireError
from wire.events import decode_ack, encode_events

log = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 10.0
LOOP_NAME = "link"
PURGE_INTERVAL_S = 3600.0  # retention and the size cap, in the link's idle time (never on the scan path)
PURGE_FIRST_S = 60.0  # the first purge, once start-up is over
ERROR_PAUSE_S = 0.5  # after an unexpected error in a pass of the loop: no busy spin, no dead thread

# Which signed type may arrive on which topic, and which version counter it advances.
FLAGS_VERSION = "flags"
RETAINED_DOCUMENTS = frozenset({topics.TRUST, topics.RULES})  # re-sent whole on every reconnect


class UpdateHandler(Protocol):
    def __call__(self, update: Signed) -> None:
        """Apply a verified update (flag delta or snapshot, trust list, command).

        Raise WireError to refuse it."""


@dataclass
class LinkStats:
    connects: int = 0
    disconnects: int = 0
    batches_sent: int = 0
    events_sent: int = 0
    resends: int = 0  # go-back-N restarts (timeout or reconnect)
    events_acked: int = 0
    updates_applied: int = 0
    updates_rejected: int = 0
    updates_repeated: int = 0  # the current trust list again (retained, re-sent on every reconnect)
    last_rejection: str | None = None
    rejections: list[str] = field(default_factory=list)
    loop_errors: int = 0  # passes of the network loop that raised (logged; the loop carries on)
    purged: int = 0  # delivered passages removed by retention or the size cap


@dataclass
class _Batch:
    first_seq: int
    last_seq: int
    pending: set[str]
    sent_at: float


class KioskLink:
    def __init__(
        self,
        config: MqttConfig,
        kiosk_id: str,
        store: KioskStore,
        hub_keys: list[Ed25519PublicKey] | None = None,
        on_update: UpdateHandler | None = None,
        on_signed: Callable[[Signed], None] | None = None,
        status_extra: Callable[[], dict[str, Any]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        heartbeats: Heartbeats | None = None,
        flags: FlagSync | None = None,
    ) -> None:
        self.config = config
        self.kiosk_id = kiosk_id
        self.store = store
        self.stats = LinkStats()
        self.flags = flags if flags is not None else FlagSync(store, FlagStore()).load()
        self.docs = DocSync(store)  # trust list and health rules, as chunks
        self.hub_keys = HubKeyRing(store, hub_keys or [])
        self._on_update = on_update
        self._on_signed = on_signed  # every verified hub message, whatever it is (its signed time)
        self._status_extra = status_extra or dict
        self._monotonic = monotonic
        self._wall = wall
        self._backoff = Backoff(config.backoff_min_s, config.backoff_max_s)
        self._protocol = mqtt.MQTTv311 if config.protocol == "3.1.1" else mqtt.MQTTv5
        self._client: mqtt.Client | None = None
        self._connected = False
        self._next_attempt = 0.0
        self._awaiting_connack = False
        self._batches: list[_Batch] = []
        # SHA-256 of the retained document envelope in force, per topic (trust list, health rules)
        self._in_force: dict[str, bytes] = {}
        self._window = config.max_inflight_batches  # batches in flight at most (see the docstring)
        self._sent_upto = 0
        self._next_status = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeats = heartbeats if heartbeats is not None else Heartbeats(monotonic)
        self.callback_errors = CallbackErrors()
        self._next_purge = monotonic() + PURGE_FIRST_S

    # -- public ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def resync_wanted(self) -> bool:
        return self.flags.resync_wanted

    def start(self) -> KioskLink:
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._thread.start()
        return self

    def nudge(self) -> None:
        """A passage was recorded: publish it now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Say "offline" (retained), disconnect cleanly, stop the thread.

        Unacked passages stay in the store for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> KioskLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- network thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.heartbeats.beat(LOOP_NAME)
                try:
                    self._pass()
                except Exception:  # a bug or a failing disk must not end delivery for good
                    self.stats.loop_errors += 1
                    log.exception("mqtt link: a pass of the loop failed (%d so far)", self.stats.loop_errors)
                    self._stop.wait(ERROR_PAUSE_S)
        finally:
            self.heartbeats.forget(LOOP_NAME)
            self._shutdown()

    def _pass(self) -> None:
        """One pass: (re)connect when due, let paho read and write, publish, or idle."""
        now = self._monotonic()
        if self._client is None or not self._client.is_connected():
            if self._connected:
                self._lost("connection closed")
            if now >= self._next_attempt:
                self._connect()
        if self._client is not None:
            rc = self._client.loop(timeout=0.05)
            failed = rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN)
            if failed and self._connected:
                self._lost(mqtt.error_string(rc))
            elif failed and self._awaiting_connack:  # dropped before the CONNACK came
                self._awaiting_connack = False
                self._schedule_retry(f"connection closed during connect ({mqtt.error_string(rc)})")
        if self._connected:
            self._pump()
            if self.flags.tick():
                self._next_status = 0.0  # ask for the buckets that differ at once
            self._maybe_status()
        else:
            self._wake.wait(min(0.2, max(0.0, self._next_attempt - self._monotonic())))
            self._wake.clear()
        self._maybe_purge()

    def _maybe_purge(self) -> None:
        """Retention and the size cap of the store, about hourly, from this thread rather than the
        scan loop: a purge holds the store for a moment, which a scan must never wait for."""
        now = self._monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_INTERVAL_S
        removed = self.store.purge(self._wall())
        self.stats.purged += removed
        if removed:
            log.info("store: purged %d delivered passages (retention, size cap)", removed)

    def _new_client(self) -> mqtt.Client:
        if self._protocol == mqtt.MQTTv5:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id=self.kiosk_id, protocol=mqtt.MQTTv5
            )
        else:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=self.kiosk_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
            )
        if self.config.tls is not None:
            client.tls_set(
                ca_certs=self.config.tls.ca_file,
                certfile=self.config.tls.cert_file,
                keyfile=self.config.tls.key_file,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(max(20, self.config.max_inflight_batches * 2))
        client.will_set(topics.status(self.kiosk_id), self._status_payload("offline"), qos=1, retain=True)
        # Guarded: paho re-raises a callback's exception out of loop(), which would end this thread.
        client.on_connect = guarded("link.on_connect", self.callback_errors, self._on_connect)
        client.on_disconnect = guarded("link.on_disconnect", self.callback_errors, self._on_disconnect)
        client.on_message = guarded("link.on_message", self.callback_errors, self._on_message)
        return client

    def _connect(self) -> None:
        if self._client is None:
            self._client = self._new_client()
        try:
            if self._protocol == mqtt.MQTTv5:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.config.session_expiry_s
                self._client.connect(
                    self.config.host,
                    self.config.port,
                    self.config.keepalive_s,
                    clean_start=False,
                    properties=props,
                )
            else:
                self._client.connect(self.config.host, self.config.port, self.config.keepalive_s)
        except (OSError, ssl.SSLError) as exc:
            self._schedule_retry(f"connect failed: {exc}")
            return
        # CONNECT is sent; until the broker's CONNACK arrives (slower over TLS, on a Pi, on a busy
        # broker) the client is not "connected": do not open another connection over this one.
        self._next_attempt = self._monotonic() + CONNACK_TIMEOUT_S
        self._awaiting_connack = True

    def _schedule_retry(self, why: str) -> None:
        delay = self._backoff.next_delay()
        self._next_attempt = self._monotonic() + delay
        log.info("mqtt: %s; retrying in %.1fs", why, delay)

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._awaiting_connack = False
        if reason.is_failure:
            if self._protocol == mqtt.MQTTv5 and self.config.protocol == "auto" and reason.value in (1, 0x84):
                log.warning("broker refuses MQTT 5: falling back to 3.1.1")
                self._protocol = mqtt.MQTTv311
                self._client = None
                self._next_attempt = self._monotonic()
                return
            self._schedule_retry(f"connection refused: {reason}")
            return
        self._connected = True
        self.stats.connects += 1
        self._backoff.reset()
        for topic in (
            topics.acks(self.kiosk_id),
            topics.commands(self.kiosk_id),
            topics.FLAGS_UPDATES,
            topics.FLAGS_HEAD,
            topics.TRUST,
            topics.RULES,
        ):
            client.subscribe(topic, qos=1)
        self._restart_delivery()
        self._next_status = 0.0
        log.info("mqtt: connected to %s:%d", self.config.host, self.config.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if self._connected:
            self._lost(str(reason))

    def _lost(self, why: str) -> None:
        self._connected = False
        self.stats.disconnects += 1
        self._restart_delivery()
        self._schedule_retry(f"disconnected ({why})")

    def _shutdown(self) -> None:
        client = self._client
        if client is None:
            return
        if self._connected:
            info = client.publish(
                topics.status(self.kiosk_id), self._status_payload("offline"), qos=1, retain=True
            )
            deadline = self._monotonic() + 2.0
            while not info.is_published() and self._monotonic() < deadline:
                client.loop(timeout=0.05)
            client.disconnect()
            client.loop(timeout=0.1)
        self._connected = False
        self._client = None

    # -- delivery -------------------------------------------------------------------------------

    def _restart_delivery(self) -> None:
        """Go back to the oldest unacked passage: everything not acked is sent again, in order."""
        if self._batches:
            self.stats.resends += 1
        self._batches.clear()
        self._sent_upto = 0

    def _pump(self) -> None:
        now = self._monotonic()
        if self._batches and now - self._batches[0].sent_at > self.config.ack_timeout_s:
            first, timeout = self._batches[0].first_seq, self.config.ack_timeout_s
            log.info("mqtt: hub has not acked seq %d within %.0fs: re-sending it alone", first, timeout)
            self._window = 1
            self._restart_delivery()
        while len(self._batches) < self._window and self._client is not None:
            events = self.store.outbox(limit=self.config.batch_size, after_seq=self._sent_upto)
            if not events:
                return
            info = self._client.publish(topics.events(self.kiosk_id), encode_events(events), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._lost(f"publish failed: {mqtt.error_string(info.rc)}")
                return
            self._batches.append(_Batch(events[0].seq, events[-1].seq, {e.event_id for e in events}, now))
            self._sent_upto = events[-1].seq
            self.stats.batches_sent += 1
            self.stats.events_sent += len(events)

    def _acked(self, event_ids: list[str]) -> None:
        self.stats.events_acked += self.store.mark_delivered(event_ids, self._wall())
        acked = set(event_ids)
        for batch in self._batches:
            batch.pending -= acked
        done = sum(1 for b in self._batches if not b.pending)
        self._batches = [b for b in self._batches if b.pending]
        self._window = min(self.config.max_inflight_batches, self._window + done)
        self._wake.set()

    # -- incoming -------------------------------------------------------------------------------

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == topics.acks(self.kiosk_id):
                self._acked(decode_ack(message.payload))
            else:
                self._update(message.topic, message.payload)
        except WireError as exc:
            self._reject(f"{message.topic}: {exc}")
        except Exception as exc:  # e.g. the disk is full while saving an update: refused, not fatal
            self._reject(f"{message.topic}: not applied: {type(exc).__name__}: {exc}")
            raise  # counted and logged by the guard

    def _update(self, topic: str, payload: bytes | bytearray) -> None:
        expected = {
            topics.FLAGS_UPDATES: ("flags.delta",),
            topics.FLAGS_HEAD: ("flags.head",),
            topics.TRUST: ("trust", "key.rotate", "doc.head"),
            topics.RULES: ("rules", "doc.head"),
            topics.commands(self.kiosk_id): ("command", "flags.chunk", "doc.chunk"),
        }.get(topic)
        if expected is None:
            raise WireError("unexpected topic")
        if not payload:
            return  # a cleared retained message
        digest = hashlib.sha256(payload).digest() if topic in RETAINED_DOCUMENTS else None
        if digest is not None and digest == self._in_force.get(topic):
            self.stats.updates_repeated += 1  # the same bytes as the document in force: nothing to check
            return
        signed = open_envelope(payload, self.hub_keys.trusted)
        if self._on_signed is not None:
            self._on_signed(signed)
        if signed.type not in expected:
            raise WireError(f"{signed.type} is not accepted on this topic")
        if signed.target not in (None, self.kiosk_id):
            raise WireError(f"addressed to {signed.target}")
        self.hub_keys.used(signed.kid)
        if signed.type in FLAG_TYPES:
            before = (self.flags.version, sorted(self.flags.wanted))
            self.flags.handle(signed)  # orders, persists and verifies: the one owner of flag state
            if signed.type != "flags.head":
                self.stats.updates_applied += 1
            if (self.flags.version, sorted(self.flags.wanted)) != before:
                self._next_status = 0.0  # report the new version, or a wish to resync, at once
            return
        document = None
        if signed.type in DOC_TYPES:
            self._next_status = 0.0  # ask for the chunks still missing at once
            if signed.type == "doc.head" and signed.payload.get("type") not in expected:
                raise WireError(f"a head of {signed.payload.get('type')} is not accepted on this topic")
            repeated = self.docs.repeated
            whole = self.docs.handle(signed)
            if self.docs.repeated > repeated:
                self.stats.updates_repeated += 1  # the document in force: not fetched or applied again
            if whole is None:
                return
            signed, document = whole, whole.type  # from here on, as if it had come in one envelope
        counter = signed.type
        applied = self.store.applied_version(counter) or 0
        if signed.type == "key.rotate" and self.hub_keys.already_trusts(signed):
            return  # the hub repeats its announcement for kiosks that were away
        if digest is not None and signed.type != "key.rotate" and signed.version == applied:
            # The document in force, re-sent on every reconnect (a national trust list is megabytes):
            # not applied again, not an error.
            self._in_force[topic] = digest
            self.stats.updates_repeated += 1
            return
        if signed.version <= applied:
            raise WireError(f"replayed or older {signed.type}: version {signed.version} <= applied {applied}")
        if signed.type == "key.rotate":
            self.hub_keys.announce(signed)
        elif self._on_update is not None:
            self._on_update(signed)
        if digest is not None and signed.type != "key.rotate":
            self._in_force[topic] = digest
        self.store.set_version(counter, signed.version)
        if document is not None:
            self.docs.done(document)
        self.stats.updates_applied += 1
        self._next_status = 0.0  # report the new version at once
        log.info("applied %s version %d", signed.type, signed.version)

    def _reject(self, why: str) -> None:
        self.stats.updates_rejected += 1
        self.stats.last_rejection = why
        self.stats.rejections = [*self.stats.rejections[-19:], why]
        log.warning("rejected update: %s", why)
        self._next_status = 0.0

    # -- status ---------------------------------------------------------------------------------

    def _status_payload(self, state: str) -> bytes:
        body: dict[str, Any] = {
            "state": state,
            "kiosk_id": self.kiosk_id,
            "version": __version__,
            "at": self._wall().isoformat(timespec="seconds"),
        }
        if state != "offline":
            body.update(
                {
                    "flags_version": self.store.applied_version(FLAGS_VERSION),
                    "trust_version": self.store.applied_version("trust"),
                    "rules_version": self.store.applied_version("rules"),
                    "hub_keys": self.hub_keys.kids(),
                    "backlog": self.store.backlog(),
                    "resync_wanted": self.resync_wanted,
                    **self.flags.status_fields(),
                    "docs_wanted": self.docs.wanted(),
                    "store": self.store.health.to_dict(),
                    "updates_rejected": self.stats.updates_rejected,
                    "last_rejection": self.stats.last_rejection,
                    "callback_errors": sum(self.callback_errors.values()),
                    "loop_errors": self.stats.loop_errors,
                    **self._status_extra(),
                }
            )
        return json.dumps(body, ensure_ascii=False, default=str).encode()

    def _maybe_status(self) -> None:
        now = self._monotonic()
        if now < self._next_status or self._client is None:
            return
        self._client.publish(topics.status(self.kiosk_id), self._status_payload("online"), qos=1, retain=True)
        self._next_status = now + self.config.status_interval_s
