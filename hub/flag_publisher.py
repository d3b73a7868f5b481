"""New flags on their way down to every kiosk: signed deltas, a signed retained head, snapshots.

After an operator adds or lifts a flag (or the registry sync brings changes), `publish_pending`
sends one signed `flags.delta` from the last published version to the head, and re-publishes the
retained `flags.head`. A kiosk that missed deltas (offline, or new) sees the head ahead of its own
version and says `resync_wanted` in its retained status; the publisher answers that kiosk with a
`flags.snapshot` addressed to it, on its own commands topic. Persons travel only as keyed hashes
(wire/flagsync.py).

The hub's signing key is loaded from a file that only the hub's user may read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.db import Database
from hub.documents import current_document, current_version
from hub.flags import FlagChange, changes_since, dead_letter_change, head_version
from hub.mqtt_ingest import MAX_STATUS_BYTES
from hub.rules import RULES_DOC
from hub.trust import TRUST_DOC
from kiosk.liveness import CallbackErrors, guarded
from provisioning.keyfiles import load_private_key
from wire import flagsync, topics
from wire.envelope import public_pem, seal
from wire.identity import normalise_flag_target
from wire.idhash import id_hash
from wire.rules import RULES_TYPE

if TYPE_CHECKING:  # key_rotation imports this module's load_signing_key
    from hub.key_rotation import Announcement

log = logging.getLogger(__name__)

STATUS_NAMES = {"F0": "F0", "F1": "F1", "F2": "F2", "revoked": "REVOKED"}
RESYNC_MIN_INTERVAL_S = 5.0


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """The hub's Ed25519 key; refused if others can read the file (see provisioning/keyfiles.py)."""
    key = load_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the hub signing key must be Ed25519")
    return key


def write_public_key(signing_key: Path, key: Ed25519PrivateKey) -> Path:
    """`<key>.pub.pem` beside the signing key: what kiosk configs point at (`verify.hub_public_key`)."""
    path = signing_key.with_suffix(".pub.pem")
    path.write_bytes(public_pem(key.public_key()))
    return path


def _epoch(t: dt.datetime | None) -> int | None:
    return None if t is None else int(t.replace(tzinfo=dt.UTC).timestamp())


def _entry(change: FlagChange, flag_key: bytes) -> flagsync.FlagEntry:
    start = _epoch(change.starts_at)
    assert start is not None
    return flagsync.FlagEntry(
        id_hash(flag_key, change.target), STATUS_NAMES[change.status], start, _epoch(change.ends_at)
    )


Rejected = list[tuple[FlagChange, str]]


def _checked(change: FlagChange) -> None:
    """Raise ValueError if the change breaks today's rules (a row older than them, or written around them).

    The flag log is written through hub/flags.py, which applies the same rule; a row that breaks it
    anyway (an old row, a hand-made one) must cost only itself, never the changes after it.
    """
    if normalise_flag_target(change.target_kind, change.target) != change.target:
        raise ValueError(f"target {change.target!r} is not in its normal form")
    if change.status not in STATUS_NAMES:
        raise ValueError(f"status {change.status!r} is unknown")
    if change.ends_at is not None and change.ends_at <= change.starts_at:
        raise ValueError("ends_at is not after starts_at")


def _converted(
    changes: list[FlagChange], flag_key: bytes, rejected: Rejected
) -> dict[tuple[str, str], tuple[FlagChange, Any]]:
    """The latest GOOD change per target with what kiosks receive for it; bad ones go to `rejected`.

    What a kiosk receives: a FlagEntry (person flagged), an id hash (person lifted) or a revocation
    (pass). Anything a change cannot be turned into is caught here, per change.
    """
    latest: dict[tuple[str, str], tuple[FlagChange, Any]] = {}
    for change in changes:
        try:
            _checked(change)
            if change.target_kind == "person":
                wire: Any = id_hash(flag_key, change.target) if change.lifted else _entry(change, flag_key)
            else:  # a pass, by pass id (hex)
                wire = ("pass_id", bytes.fromhex(change.target))
        except Exception as exc:
            rejected.append((change, f"{type(exc).__name__}: {exc}"))
            continue
        latest[(change.target_kind, change.target)] = (change, wire)
    return latest


def delta_for(
    changes: list[FlagChange], from_version: int, flag_key: bytes, rejected: Rejected | None = None
) -> dict[str, Any]:
    """The delta payload that brings a kiosk from `from_version` through `changes` (oldest first).

    Changes that cannot be sent are left out and listed in `rejected` (the publisher dead-letters them).
    """
    added, lifted, revoked, unrevoked = [], [], [], []
    for (kind, _), (change, wire) in _converted(
        changes, flag_key, [] if rejected is None else rejected
    ).items():
        if kind == "person":
            (lifted if change.lifted else added).append(wire)
        else:
            (unrevoked if change.lifted else revoked).append(wire)
    return flagsync.delta_payload(from_version, added, lifted, revoked, unrevoked)


def snapshot_for(db: Database, flag_key: bytes, rejected: Rejected | None = None) -> dict[str, Any]:
    """Every flag not lifted (kiosks check start and end themselves), as a full snapshot."""
    latest = _converted(
        changes_since(db, 0, limit=10_000_000), flag_key, [] if rejected is None else rejected
    )
    persons = [w for (k, _), (c, w) in latest.items() if k == "person" and not c.lifted]
    revoked = [w for (k, _), (c, w) in latest.items() if k == "pass" and not c.lifted]
    return flagsync.snapshot_payload(persons, revoked)


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
    ) -> None:
        self.db = db
        self._key = signing_key
        self._flag_key = flag_key
        self._clock = clock
        self._lock = threading.Lock()
        self.published = head_version(db)  # after a restart, kiosks behind it resync via the head
        self.snapshots_sent = 0
        self.dead_lettered = 0  # flag changes this publisher set aside (an alarm: see _dead_letter)
        self._last_resync: dict[str, float] = {}
        self._last_announce: dict[str, float] = {}
        # per retained document (name -> version sent on this connection): trust list, health rules
        self.documents_published: dict[str, int] = {}
        self.announcement: Announcement | None = None  # while a key rotation is pending
        self.connected = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if tls:
            self._client.tls_set(ca_certs=tls["ca_file"], certfile=tls["cert_file"], keyfile=tls["key_file"])
        self._client.reconnect_delay_set(0.2, 10)
        # Guarded: both callbacks read the database; paho would re-raise an error out of its
        # network thread and no flag would leave the hub again.
        self.callback_errors = CallbackErrors()
        self._client.on_connect = guarded("flags.on_connect", self.callback_errors, self._on_connect)
        self._client.on_message = guarded("flags.on_status", self.callback_errors, self._on_status)
        self._host, self._port = host, port

    def start(self) -> FlagPublisher:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._client.disconnect()
        self._client.loop_stop()

    def problems(self) -> list[str]:
        """What keeps the watchdog from being pinged: paho's network thread has ended (see IngestWorker)."""
        network = getattr(self._client, "_thread", None)
        if (
            getattr(self, "_stopped", False)
            or not isinstance(network, threading.Thread)
            or network.is_alive()
        ):
            return []
        return [f"{network.name} (flag publisher) has ended"]

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("flag publisher: connection refused: %s", reason)
            return
        client.subscribe(topics.ALL_STATUS, qos=1)
        self._publish_head()
        self.documents_published = {}  # (re)publish the retained documents on every (re)connect
        self.publish_documents()
        self.connected.set()

    def publish_pending(self) -> int:
        """Publish the changes since the last published version; returns the new head version."""
        with self._lock:
            head = head_version(self.db)
            if head > self.published:
                changes = changes_since(self.db, self.published)
                rejected: Rejected = []
                payload = delta_for(changes, self.published, self._flag_key, rejected)
                self._dead_letter(rejected)
                self._publish(
                    topics.FLAGS_UPDATES, seal(self._key, "flags.delta", head, payload, self._clock())
                )
                log.info("flags: published delta %d -> %d (%d changes)", self.published, head, len(changes))
                self.published = head
            self._publish_head()
            return head

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
        head = self.published
        rejected: Rejected = []
        persons = snapshot_for(self.db, self._flag_key, rejected)["persons"]
        self._dead_letter(rejected)
        payload = flagsync.head_payload(int(p["h"], 16) for p in persons)
        self._publish(
            topics.FLAGS_HEAD, seal(self._key, "flags.head", head, payload, self._clock()), retain=True
        )

    def publish_documents(self) -> None:
        """Publish the newest trust list and health rules, retained, where newer than what was sent."""
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
        self._publish(topic, seal(self._key, type_, version, payload, self._clock()), retain=True)
        self.documents_published[name] = version
        log.info("%s version %d published", name, version)
        return version

    def set_announcement(self, announcement: Announcement | None) -> None:
        """A key rotation is pending: announce the next key now, and again to kiosks that lack it."""
        self.announcement = announcement
        self._last_announce.clear()
        if announcement is not None:
            self._publish(topics.TRUST, announcement.envelope)
            log.info("announced the hub's next signing key %s", announcement.next_kid)

    def _announce_to(self, kiosk_id: str, status: dict[str, Any]) -> None:
        a = self.announcement
        keys = status.get("hub_keys")
        if a is None or (isinstance(keys, list) and a.next_kid in keys):
            return
        now = time.monotonic()
        if now - self._last_announce.get(kiosk_id, -1e9) < RESYNC_MIN_INTERVAL_S:
            return
        self._last_announce[kiosk_id] = now
        self._publish(topics.TRUST, a.envelope)  # kiosks that already trust the key ignore a repeat

    def _publish(self, topic: str, data: bytes, retain: bool = False) -> None:
        self._client.publish(topic, data, qos=1, retain=retain)

    def _on_status(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        parsed = topics.parse_kiosk_topic(message.topic)
        if parsed is None or not message.payload or len(message.payload) > MAX_STATUS_BYTES:
            return  # a status is a few hundred bytes: a larger one is not parsed at all
        try:
            status = json.loads(message.payload)
        except (ValueError, RecursionError):
            return
        if not isinstance(status, dict) or status.get("state") != "online":
            return
        kiosk_id = parsed[0]
        behind = isinstance(status.get("flags_version"), int) and status["flags_version"] < self.published
        if status.get("resync_wanted") or behind:
            self.send_snapshot(kiosk_id)
        self._announce_to(kiosk_id, status)

    def send_snapshot(self, kiosk_id: str) -> None:
        """A full flag list for one kiosk (rate-limited: a kiosk re-announcing itself gets one)."""
        now = time.monotonic()
        if now - self._last_resync.get(kiosk_id, -1e9) < RESYNC_MIN_INTERVAL_S:
            return
        self._last_resync[kiosk_id] = now
        with self._lock:
            rejected: Rejected = []
            payload = snapshot_for(self.db, self._flag_key, rejected)
            self._dead_letter(rejected)
            data = seal(self._key, "flags.snapshot", self.published, payload, self._clock(), target=kiosk_id)
            self._publish(topics.commands(kiosk_id), data)  # its own topic: the broker's ACL keeps it private
            self.snapshots_sent += 1
        log.info("flags: snapshot version %d sent to %s", self.published, kiosk_id)
