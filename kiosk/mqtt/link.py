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
- the connection is the process's MQTT wrapper (common/mqttclient.py): reconnects with exponential
  backoff and full jitter, MQTT 5 with a session expiry (3.1.1 where the broker is older), the
  subscriptions re-made on every reconnect, a dispatch table from topic to handler with errors counted
  in `callback_errors`; a retained status (wire/status.py, built in `status()` only) and a will that
  says "offline".

Everything the hub pushes down (flag deltas, heads and chunks, trust lists, commands) arrives in a
signed envelope (wire/envelope.py) and is handed on only if it verifies against the hub's key; flag
updates go to the kiosk's one owner of flag state (kiosk/flagsync.py), which orders, persists and
checks them against the hub's head, and whose wish for a resync (`resync_buckets`) the status carries;
other updates are applied only if their version is newer than what was applied.

One network thread (this link's) drives the wrapper (`step`) and publishes, so there are no
cross-thread races inside paho; other threads only call `nudge()` and read `stats`. Signed updates
are dispatched by type (`_by_type`) after the topic's allowed types are checked (`_topic_types`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from common.liveness import CallbackErrors, Heartbeats
from common.mqttclient import ClientSettings, MqttClient, TlsFiles
from kiosk import __version__
from kiosk.docsync import DOC_TYPES, DocSync
from kiosk.flagsync import FLAG_TYPES, FlagSync
from kiosk.mqtt.config import MqttConfig
from kiosk.mqtt.hubkeys import HubKeyRing
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from wire import topics
from wire.envelope import Signed, open_envelope
from wire.errors import WireError
from wire.events import decode_ack, encode_events
from wire.status import OFFLINE, ONLINE, KioskStatus

log = logging.getLogger(__name__)

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
    status_errors: int = 0  # statuses that broke wire/status.py (a bug): sent as core fields and the error


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
        self._batches: list[_Batch] = []
        # SHA-256 of the retained document envelope in force, per topic (trust list, health rules)
        self._in_force: dict[str, bytes] = {}
        self._window = config.max_inflight_batches  # batches in flight at most (see the docstring)
        self._sent_upto = 0
        self._next_status = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeats = heartbeats if heartbeats is not None else Heartbeats(monotonic)
        self.callback_errors = CallbackErrors()
        self._next_purge = monotonic() + PURGE_FIRST_S
        # Which signed types each topic may carry, and who handles each type once it verified.
        self._topic_types: dict[str, tuple[str, ...]] = {
            topics.FLAGS_UPDATES: ("flags.delta",),
            topics.FLAGS_HEAD: ("flags.head",),
            topics.TRUST: ("trust", "key.rotate", "doc.head"),
            topics.RULES: ("rules", "doc.head"),
            topics.commands(kiosk_id): ("command", "flags.chunk", "doc.chunk"),
        }
        self._by_type: dict[str, Callable[[str, Signed, bytes | None], None]] = {
            **{t: self._flag_update for t in FLAG_TYPES},
            **{t: self._doc_update for t in DOC_TYPES},
            **{t: self._versioned_update for t in ("trust", "rules", "key.rotate", "command")},
        }
        self.mqtt = MqttClient(
            ClientSettings(
                client_id=kiosk_id,
                host=config.host,
                port=config.port,
                protocol=config.protocol,
                keepalive_s=config.keepalive_s,
                session_expiry_s=config.session_expiry_s,
                tls=TlsFiles(config.tls.ca_file, config.tls.cert_file, config.tls.key_file)
                if config.tls
                else None,
                backoff_min_s=config.backoff_min_s,
                backoff_max_s=config.backoff_max_s,
                max_inflight=max(20, config.max_inflight_batches * 2),
            ),
            name="link.mqtt",
            heartbeats=self.heartbeats,
            errors=self.callback_errors,
            will=lambda: (topics.status(self.kiosk_id), self._status_payload(OFFLINE)),
            on_connected=self._connected_hook,
            on_lost=self._lost,
            monotonic=monotonic,
        )
        self.mqtt.route(topics.acks(kiosk_id), self._on_ack, name="link.on_message")
        for topic in self._topic_types:
            self.mqtt.route(topic, self._on_hub_message, name="link.on_message")

    # -- public ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.mqtt.is_connected

    @property
    def resync_wanted(self) -> bool:
        return self.flags.resync_wanted

    def start(self) -> KioskLink:
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._thread.start()
        return self

    def nudge(self) -> None:
        """A passage was recorded: publish it now rather than at the next poll."""
        self.mqtt.wake()

    def stop(self, timeout: float = 5.0) -> None:
        """Say "offline" (retained), disconnect cleanly, stop the thread.

        Unacked passages stay in the store for the next start."""
        self._stop.set()
        self.mqtt.wake()
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
        """One pass: (re)connect when due and let paho read and write (the wrapper), then publish."""
        self.mqtt.step(0.05 if self.mqtt.is_connected else 0.2)  # nudge() cuts either short
        if self.mqtt.is_connected:
            self._pump()
            if self.flags.tick():
                self._next_status = 0.0  # ask for the buckets that differ at once
            self._maybe_status()
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

    def _connected_hook(self) -> None:
        """A new connection (the wrapper re-made the subscriptions): go back to the oldest unacked."""
        self.stats.connects += 1
        self._restart_delivery()
        self._next_status = 0.0

    def _lost(self, _why: str) -> None:
        self.stats.disconnects += 1
        self._restart_delivery()

    def _shutdown(self) -> None:
        """Say "offline" (retained) if connected, and disconnect cleanly."""
        self.mqtt.close(farewell=(topics.status(self.kiosk_id), self._status_payload(OFFLINE)))

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
        while len(self._batches) < self._window:
            events = self.store.outbox(limit=self.config.batch_size, after_seq=self._sent_upto)
            if not events:
                return
            info = self.mqtt.publish(topics.events(self.kiosk_id), encode_events(events), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                # Not connected after all: the wrapper notices on its next step; start again from the
                # oldest unacked then.
                log.info("mqtt: publish failed (%s)", mqtt.error_string(info.rc))
                self._restart_delivery()
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

    # -- incoming -------------------------------------------------------------------------------

    def _on_ack(self, message: mqtt.MQTTMessage) -> None:
        with self._refusing(message.topic):
            self._acked(decode_ack(message.payload))

    def _on_hub_message(self, message: mqtt.MQTTMessage) -> None:
        with self._refusing(message.topic):
            self._update(message.topic, message.payload)

    @contextlib.contextmanager
    def _refusing(self, topic: str) -> Iterator[None]:
        """A message that breaks the contract is refused (counted, in the status); any other error too,
        and re-raised for the wrapper to log and count (e.g. the disk is full while saving an update)."""
        try:
            yield
        except WireError as exc:
            self._reject(f"{topic}: {exc}")
        except Exception as exc:
            self._reject(f"{topic}: not applied: {type(exc).__name__}: {exc}")
            raise

    def _update(self, topic: str, payload: bytes | bytearray) -> None:
        expected = self._topic_types.get(topic)
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
        self._by_type[signed.type](topic, signed, digest)

    def _flag_update(self, _topic: str, signed: Signed, _digest: bytes | None) -> None:
        before = (self.flags.version, sorted(self.flags.wanted))
        self.flags.handle(signed)  # orders, persists and verifies: the one owner of flag state
        if signed.type != "flags.head":
            self.stats.updates_applied += 1
        if (self.flags.version, sorted(self.flags.wanted)) != before:
            self._next_status = 0.0  # report the new version, or a wish to resync, at once

    def _doc_update(self, topic: str, signed: Signed, digest: bytes | None) -> None:
        self._next_status = 0.0  # ask for the chunks still missing at once
        if signed.type == "doc.head" and signed.payload.get("type") not in self._topic_types[topic]:
            raise WireError(f"a head of {signed.payload.get('type')} is not accepted on this topic")
        repeated = self.docs.repeated
        whole = self.docs.handle(signed)
        if self.docs.repeated > repeated:
            self.stats.updates_repeated += 1  # the document in force: not fetched or applied again
        if whole is not None:  # from here on, as if it had come in one envelope
            self._versioned_update(topic, whole, digest, document=whole.type)

    def _versioned_update(
        self, topic: str, signed: Signed, digest: bytes | None, document: str | None = None
    ) -> None:
        """A trust list, health rules, a key announcement or a command: applied if newer than applied."""
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

    def status(self, state: str = ONLINE) -> KioskStatus:
        """The kiosk's status message (wire/status.py): the one place it is built.

        The link's own fields, then the service's (`status_extra`: camera, clock, decoding...). Should
        they ever break the contract (a bug), the kiosk still reports in: the core fields and the error."""
        core: dict[str, Any] = {
            "state": state,
            "kiosk_id": self.kiosk_id,
            "version": __version__,
            "at": self._wall().isoformat(timespec="seconds"),
        }
        if state == OFFLINE:
            return KioskStatus.model_validate(core)
        fields = {
            **core,
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
        try:
            return KioskStatus.model_validate(fields)
        except ValidationError as exc:
            self.stats.status_errors += 1
            log.error("the kiosk's status breaks its own contract: %s", exc)
            return KioskStatus.model_validate({**core, "status_error": str(exc)[:500]})

    def _status_payload(self, state: str) -> bytes:
        return self.status(state).to_json()

    def _maybe_status(self) -> None:
        now = self._monotonic()
        if now < self._next_status:
            return
        self.mqtt.publish(topics.status(self.kiosk_id), self._status_payload(ONLINE), qos=1, retain=True)
        self._next_status = now + self.config.status_interval_s
