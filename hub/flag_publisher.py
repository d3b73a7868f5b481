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
from hub.flags import FlagChange, changes_since, head_version
from hub.trust import current_trust_list
from kiosk.liveness import CallbackErrors, guarded
from provisioning.keyfiles import load_private_key
from wire import flagsync, topics
from wire.envelope import public_pem, seal
from wire.idhash import id_hash

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


def delta_for(changes: list[FlagChange], from_version: int, flag_key: bytes) -> dict[str, Any]:
    """The delta payload that brings a kiosk from `from_version` through `changes` (oldest first)."""
    latest: dict[tuple[str, str], FlagChange] = {}
    for change in changes:
        latest[(change.target_kind, change.target)] = change
    added, lifted, revoked, unrevoked = [], [], [], []
    for (kind, target), change in latest.items():
        if kind == "person":
            if change.lifted:
                lifted.append(id_hash(flag_key, target))
            else:
                added.append(_entry(change, flag_key))
        else:  # a pass, by pass id (hex)
            (unrevoked if change.lifted else revoked).append(("pass_id", bytes.fromhex(target)))
    return flagsync.delta_payload(from_version, added, lifted, revoked, unrevoked)


def snapshot_for(db: Database, flag_key: bytes) -> dict[str, Any]:
    """Every flag not lifted (kiosks check start and end themselves), as a full snapshot."""
    latest: dict[tuple[str, str], FlagChange] = {}
    for change in changes_since(db, 0, limit=10_000_000):
        latest[(change.target_kind, change.target)] = change
    persons = [_entry(c, flag_key) for (k, _), c in latest.items() if k == "person" and not c.lifted]
    revoked = [("pass_id", bytes.fromhex(t)) for (k, t), c in latest.items() if k == "pass" and not c.lifted]
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
        self._last_resync: dict[str, float] = {}
        self._last_announce: dict[str, float] = {}
        self.trust_published = 0
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
        self.trust_published = 0  # (re)publish the retained trust list on every (re)connect
        self.publish_trust()
        self.connected.set()

    def publish_pending(self) -> int:
        """Publish the changes since the last published version; returns the new head version."""
        with self._lock:
            head = head_version(self.db)
            if head > self.published:
                changes = changes_since(self.db, self.published)
                payload = delta_for(changes, self.published, self._flag_key)
                self._publish(
                    topics.FLAGS_UPDATES, seal(self._key, "flags.delta", head, payload, self._clock())
                )
                log.info("flags: published delta %d -> %d (%d changes)", self.published, head, len(changes))
                self.published = head
            self._publish_head()
            return head

    def _publish_head(self) -> None:
        head = self.published
        persons = snapshot_for(self.db, self._flag_key)["persons"]
        payload = flagsync.head_payload(int(p["h"], 16) for p in persons)
        self._publish(
            topics.FLAGS_HEAD, seal(self._key, "flags.head", head, payload, self._clock()), retain=True
        )

    def publish_trust(self) -> int:
        """Publish the newest trust list, retained, if it is newer than what this publisher sent."""
        current = current_trust_list(self.db)
        if current is None or current[0] <= self.trust_published:
            return self.trust_published
        version, payload = current
        self._publish(topics.TRUST, seal(self._key, "trust", version, payload, self._clock()), retain=True)
        self.trust_published = version
        log.info("trust list version %d published (%d keys)", version, len(payload.get("keys", [])))
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
        if a is None or a.next_kid in (status.get("hub_keys") or []):
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
        if parsed is None or not message.payload:
            return
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
            payload = snapshot_for(self.db, self._flag_key)
            data = seal(self._key, "flags.snapshot", self.published, payload, self._clock(), target=kiosk_id)
            self._publish(topics.commands(kiosk_id), data)  # its own topic: the broker's ACL keeps it private
            self.snapshots_sent += 1
        log.info("flags: snapshot version %d sent to %s", self.published, kiosk_id)
