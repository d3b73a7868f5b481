"""New flags on their way down to every kiosk: chained signed deltas, a signed retained head, chunks.

After an operator adds or lifts a flag (or the registry sync brings changes), `publish_pending`
sends the chain of signed `flags.delta`s from the last published version to the head (hub/flagstate.py
owns the list and builds them, each at most `DELTA_CAP` changes), then the retained `flags.head` when
its version moved. A kiosk whose list does not match a head (it missed deltas, is new, or its disk was
damaged) lists the buckets that differ in its retained status (`resync_buckets`); the publisher answers
with those buckets' signed `flags.chunk`s, cached per version, on that kiosk's own commands topic,
each bucket at most once per `CHUNK_MIN_INTERVAL_S` per kiosk. Persons travel only as keyed hashes
(wire/flagsync.py).

Its connection (common/mqttclient.py) is also the hub process's one status subscriber: each kiosk
status is decoded once (wire/status.py), handed to `on_status` (the fleet view's recorder) and then
served. The hub's signing key is loaded from a file that only the hub's user may read.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import load_private_key
from common.liveness import CallbackErrors, Heartbeats, guarded
from common.mqttclient import ClientSettings, MqttClient, TlsFiles
from hub.db import Database
from hub.documents import current_document, current_version
from hub.flags import dead_letter_change
from hub.flagstate import FlagState, Rejected
from hub.rules import RULES_DOC
from hub.trust import TRUST_DOC
from wire import docchunks, flagdigest, topics
from wire.envelope import public_pem, seal
from wire.errors import WireError
from wire.rules import RULES_TYPE
from wire.status import KioskStatus, decode_status

if TYPE_CHECKING:  # key_rotation imports this module's load_signing_key
    from hub.key_rotation import Announcement

log = logging.getLogger(__name__)

RESYNC_MIN_INTERVAL_S = 5.0
CHUNK_MIN_INTERVAL_S = 2.0  # a bucket re-sent to one kiosk at most this often (it asks again if lost)
MAX_BUCKETS_PER_REQUEST = 64  # kiosks ask for a few buckets at a time: bounded broker queues
MAX_DOC_CHUNKS_PER_REQUEST = 16


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """The hub's Ed25519 key; refused if others can read the file (see common/keyfiles.py)."""
    key = load_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the hub signing key must be Ed25519")
    return key


def write_public_key(signing_key: Path, key: Ed25519PrivateKey) -> Path:
    """`<key>.pub.pem` beside the signing key: what kiosk configs point at (`verify.hub_public_key`)."""
    path = signing_key.with_suffix(".pub.pem")
    path.write_bytes(public_pem(key.public_key()))
    return path


class FlagPublisher:
    def __init__(
        self,
        db: Database,
        signing_key: Ed25519PrivateKey,
        flag_key: bytes,
        host: str,
        port: int,
        client_id: str = "hub-flags",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        tls: dict[str, str] | None = None,
        on_status: Callable[[str, KioskStatus], None] | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.db = db
        self._key = signing_key
        self._flag_key = flag_key
        self._clock = clock
        self._lock = threading.Lock()
        self.dead_lettered = 0  # flag changes set aside (an alarm: see _dead_letter)
        self.state = FlagState(db, flag_key, self._seal, on_rejected=self._dead_letter).load()  # one scan
        self.published = self.state.version  # after a restart, kiosks behind it resync via the head
        self._head_sent = -1
        self.chunks_sent = 0
        self._last_chunk: dict[tuple[str, int | str], float] = {}
        self._doc_chunks: dict[str, tuple[int, list[bytes]]] = {}  # document type -> (version, sealed)
        self._last_announce: dict[str, float] = {}
        # per retained document (name -> version sent on this connection): trust list, health rules
        self.documents_published: dict[str, int] = {}
        self.announcement: Announcement | None = None  # while a key rotation is pending
        self.refused_statuses = 0  # status messages that broke the contract (wire/status.py)
        self.callback_errors = CallbackErrors()  # the MQTT handlers' errors, counted (common.mqttclient)
        # The hub process's one status subscriber: the fleet view's recorder (hub/fleet.py) is handed
        # every decoded status first; a failure there (a database error) is counted on its own and the
        # request in the status is still served.
        self._record_status = (
            guarded("fleet.record_status", self.callback_errors, on_status) if on_status else None
        )
        settings = ClientSettings(
            client_id=client_id, host=host, port=port, tls=TlsFiles(**tls) if tls else None
        )
        self.mqtt = MqttClient(
            settings,
            name=client_id,
            heartbeats=heartbeats,
            errors=self.callback_errors,
            on_connected=self._on_connected,
        )
        self.mqtt.route(topics.ALL_STATUS, self._on_status, name="flags.on_status")
        self.connected = self.mqtt.connected

    def start(self) -> FlagPublisher:
        self.mqtt.start()
        return self

    def stop(self) -> None:
        self.mqtt.stop()

    def problems(self) -> list[str]:
        """What keeps the watchdog from being pinged: the network thread has ended (see IngestWorker)."""
        return self.mqtt.problems()

    def _on_connected(self) -> None:
        """(Re)publish the retained head and documents on every (re)connect."""
        self._publish_head()
        self.documents_published = {}
        self.publish_documents()

    def _seal(self, type_: str, version: int, payload: dict[str, Any]) -> bytes:
        return seal(self._key, type_, version, payload, self._clock())

    def publish_pending(self) -> int:
        """Publish the chain of deltas since the last published version; returns the new head version."""
        with self._lock:
            for delta in self.state.advance():
                self._publish(topics.FLAGS_UPDATES, delta.sealed)
                log.info(
                    "flags: published delta %d -> %d (%d changes)",
                    delta.from_version, delta.to_version, delta.changes,
                )  # fmt: skip
                self.published = delta.to_version
            if self._head_sent != self.state.version:
                self._publish_head()
            return self.published

    def _dead_letter(self, rejected: Rejected) -> None:
        """Set bad changes aside (once each), count them and log an error: the rest goes out as usual.

        Operators see them in `hub flags dead-letters` (and a warning in `hub flags list` and
        `hub kiosks`); a failure to record them must not stop publishing either.
        """
        if not rejected:
            return
        try:
            with self.db.begin() as conn:
                for change, reason in rejected:
                    body = {
                        **change.__dict__,
                        "starts_at": str(change.starts_at),
                        "ends_at": str(change.ends_at),
                    }
                    if dead_letter_change(conn, "publisher", change.version, body, reason, self._clock()):
                        self.dead_lettered += 1
        except Exception:  # the database refused: the changes stay out of what kiosks get all the same
            log.exception("flags: could not record %d dead-lettered changes", len(rejected))

    def _publish_head(self) -> None:
        version, data = self.state.head()  # cached per version: no scan, no hashing of the list
        self._publish(topics.FLAGS_HEAD, data, retain=True)
        self._head_sent = version

    def publish_documents(self) -> None:
        """Publish the head of the newest trust list and health rules, retained, where newer than what was
        sent; their chunks (wire/docchunks.py) are sealed once and sent to the kiosks that ask."""
        self._publish_document(TRUST_DOC, topics.TRUST, "trust")
        self._publish_document(RULES_DOC, topics.RULES, RULES_TYPE)

    def _publish_document(self, name: str, topic: str, type_: str) -> int:
        sent = self.documents_published.get(name, 0)
        if current_version(self.db, name) <= sent:
            return sent  # polled every second: the body (megabytes for a trust list) only when newer
        current = current_document(self.db, name)
        if current is None:
            return sent
        version, payload = current
        head, chunks = docchunks.split(type_, payload)
        self._doc_chunks[type_] = (version, [self._seal("doc.chunk", version, c) for c in chunks])
        self._publish(topic, self._seal("doc.head", version, head), retain=True)
        self.documents_published[name] = version
        log.info("%s version %d published (%d chunk(s))", name, version, len(chunks))
        return version

    def send_doc_chunks(self, kiosk_id: str, name: Any, indices: Any) -> int:
        """The asked-for chunks of a document's newest version to one kiosk, from cache, rate-limited."""
        cached = self._doc_chunks.get(name) if isinstance(name, str) else None
        if cached is None or not isinstance(indices, list):
            return 0
        now = time.monotonic()
        sent = 0
        for i in indices[:MAX_DOC_CHUNKS_PER_REQUEST]:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(cached[1]):
                continue
            if now - self._last_chunk.get((kiosk_id, f"{name}:{i}"), -1e9) < CHUNK_MIN_INTERVAL_S:
                continue
            self._last_chunk[(kiosk_id, f"{name}:{i}")] = now
            self._publish(topics.commands(kiosk_id), cached[1][i])
            sent += 1
        return sent

    def set_announcement(self, announcement: Announcement | None) -> None:
        """A key rotation is pending: announce the next key now, and again to kiosks that lack it."""
        self.announcement = announcement
        self._last_announce.clear()
        if announcement is not None:
            self._publish(topics.TRUST, announcement.envelope)
            log.info("announced the hub's next signing key %s", announcement.next_kid)

    def _announce_to(self, kiosk_id: str, status: KioskStatus) -> None:
        a = self.announcement
        keys = status.hub_keys
        if a is None or (keys is not None and a.next_kid in keys):
            return
        now = time.monotonic()
        if now - self._last_announce.get(kiosk_id, -1e9) < RESYNC_MIN_INTERVAL_S:
            return
        self._last_announce[kiosk_id] = now
        self._publish(topics.TRUST, a.envelope)  # kiosks that already trust the key ignore a repeat

    def _publish(self, topic: str, data: bytes, retain: bool = False) -> None:
        self.mqtt.publish(topic, data, qos=1, retain=retain)

    def _on_status(self, message: mqtt.MQTTMessage) -> None:
        """A kiosk's status: decoded once (wire/status.py), recorded, and what it asks for served."""
        parsed = topics.parse_kiosk_topic(message.topic)
        if parsed is None or not message.payload:
            return  # a cleared retained status
        kiosk_id = parsed[0]
        try:
            status = decode_status(message.payload)
        except WireError as exc:
            self.refused_statuses += 1
            log.warning("status of %s refused: %s", kiosk_id, exc)
            return
        if self._record_status is not None:
            self._record_status(kiosk_id, status)
        if not status.online:
            return
        if status.resync_buckets:
            self.send_chunks(kiosk_id, list(status.resync_buckets))
        for name, indices in (status.docs_wanted or {}).items():
            self.send_doc_chunks(kiosk_id, name, indices)
        self._announce_to(kiosk_id, status)

    def send_chunks(self, kiosk_id: str, buckets: list[Any]) -> int:
        """The asked-for buckets' chunks to one kiosk, from cache; returns how many were sent.

        Rate-limited per kiosk and bucket (a status repeated every second does not resend 30 MB), and at
        most MAX_BUCKETS_PER_REQUEST per request; anything else in the list is ignored."""
        now = time.monotonic()
        sent = 0
        for b in buckets[:MAX_BUCKETS_PER_REQUEST]:
            if not isinstance(b, int) or isinstance(b, bool) or not 0 <= b < flagdigest.NBUCKETS:
                continue
            if now - self._last_chunk.get((kiosk_id, b), -1e9) < CHUNK_MIN_INTERVAL_S:
                continue
            self._last_chunk[(kiosk_id, b)] = now
            self._publish(
                topics.commands(kiosk_id), self.state.chunk(b)
            )  # its own topic: ACL keeps it private
            sent += 1
        self.chunks_sent += sent
        if sent:
            log.info("flags: %d chunk(s) at version %d sent to %s", sent, self.state.version, kiosk_id)
        return sent
