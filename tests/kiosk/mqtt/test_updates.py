"""Signed updates from the hub over a real broker: only the hub's key, only newer versions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.flags import add_flag
from hub.flagstate import FlagState
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY
from testkit.linkrig import fast_link_config, hub_database, wait_for
from testkit.services import MosquittoBroker
from wire import topics
from wire.envelope import Signed, seal
from wire.flagdigest import bucket_of
from wire.idhash import id_hash

NOW = datetime(2026, 11, 22, tzinfo=UTC)
HUB = Ed25519PrivateKey.generate()
PERSON, OTHER = "001099012345", "079084012345"


class Harness:
    """A running kiosk link that records what it applied, and a publisher posing as hub or attacker."""

    def __init__(self, broker: MosquittoBroker, tmp_path: Path) -> None:
        self.applied: list[Signed] = []
        self.store = KioskStore(tmp_path / "kiosk.db")
        self.link = KioskLink(
            fast_link_config(broker.port),
            "kiosk-1",
            self.store,
            hub_keys=[HUB.public_key()],
            on_update=self.applied.append,
        ).start()
        wait_for(lambda: self.link.connected, 10, "the link to connect")
        time.sleep(0.2)  # subscriptions are acknowledged asynchronously
        self.publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.publisher.connect(broker.host, broker.port)
        self.publisher.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.publisher.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def settle(self, applied: int, rejected: int) -> None:
        wait_for(
            lambda: (
                self.link.stats.updates_applied >= applied and self.link.stats.updates_rejected >= rejected
            ),
            10,
            f"{applied} applied and {rejected} rejected updates",
        )
        time.sleep(0.1)

    def close(self) -> None:
        self.publisher.loop_stop()
        self.link.stop()


@pytest.fixture
def harness(broker: MosquittoBroker, tmp_path: Path):
    h = Harness(broker, tmp_path)
    yield h
    h.close()


def delta(version: int, from_version: int, key: Ed25519PrivateKey = HUB) -> bytes:
    return seal(key, "flags.delta", version, {"from_version": from_version, "added": [], "lifted": []}, NOW)


def test_a_signed_delta_in_sequence_is_applied_and_its_version_stored(harness: Harness) -> None:
    harness.publish(topics.FLAGS_UPDATES, delta(1, 0))
    harness.publish(topics.FLAGS_UPDATES, delta(2, 1))
    harness.settle(applied=2, rejected=0)
    assert harness.link.flags.version == 2
    assert harness.store.applied_version("flags") == 2


def test_forged_unsigned_replayed_and_older_messages_are_rejected(harness: Harness) -> None:
    harness.publish(topics.FLAGS_UPDATES, delta(1, 0))
    harness.publish(topics.FLAGS_UPDATES, delta(2, 1))
    harness.settle(applied=2, rejected=0)
    mallory = Ed25519PrivateKey.generate()
    harness.publish(topics.FLAGS_UPDATES, delta(3, 2, key=mallory))  # forged
    harness.publish(
        topics.FLAGS_UPDATES, json.dumps({"from_version": 2, "lifted": ["x"]}).encode()
    )  # unsigned
    harness.publish(topics.FLAGS_UPDATES, delta(2, 1))  # replayed
    harness.publish(topics.FLAGS_UPDATES, delta(1, 0))  # older
    harness.publish(topics.TRUST, seal(HUB, "flags.delta", 9, {"from_version": 2}, NOW))  # wrong topic
    harness.settle(applied=2, rejected=5)
    assert harness.store.applied_version("flags") == 2
    reasons = " | ".join(harness.link.stats.rejections)
    for expected in ("unknown key", "unsigned", "replayed or older", "not accepted on this topic"):
        assert expected in reasons


def hub_flags(tmp_path: Path, people: list[str]) -> FlagState:
    """The real hub flag state over a hub database holding F0 flags for `people`."""
    db = hub_database(tmp_path / "hub.db")
    for person in people:
        add_flag(db, person, "F0", starts_at=NOW, actor="op", now=NOW)
    return FlagState(db, DEFAULT_KEY, lambda t, v, p: seal(HUB, t, v, p, NOW)).load()


def test_a_version_gap_is_repaired_from_the_head_by_the_buckets_that_differ(
    harness: Harness, broker: MosquittoBroker, tmp_path: Path
) -> None:
    harness.publish(topics.FLAGS_UPDATES, delta(5, 4))  # we have applied nothing: 4 is unknown to us
    harness.settle(applied=0, rejected=1)
    assert "version gap" in (harness.link.stats.last_rejection or "")
    state = hub_flags(tmp_path, [PERSON, OTHER])
    statuses: list[dict] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda _c, _u, m: statuses.append(json.loads(m.payload))
    watcher.connect(broker.host, broker.port)
    watcher.subscribe(topics.status("kiosk-1"), qos=1)
    watcher.loop_start()
    try:
        harness.publish(topics.FLAGS_HEAD, state.head()[1], retain=True)
        wait_for(lambda: any(s.get("resync_buckets") for s in statuses), 10, "a status asking for buckets")
    finally:
        watcher.loop_stop()
    wanted = next(s for s in statuses if s.get("resync_buckets"))
    assert wanted["resync_wanted"] and wanted["flags_state"] == "resyncing"
    expected = {bucket_of(id_hash(DEFAULT_KEY, p)) for p in (PERSON, OTHER)}
    assert set(wanted["resync_buckets"]) == expected  # only the buckets that differ, not the whole list
    for b in expected:
        harness.publish(topics.commands("kiosk-1"), state.chunk(b))
    wait_for(lambda: harness.link.flags.version == 2, 10, "the kiosk level with the head")
    assert not harness.link.resync_wanted
    assert harness.store.applied_version("flags") == 2
    assert harness.link.flags.flags.person(PERSON, NOW + timedelta(seconds=1)) is not None
    harness.publish(topics.FLAGS_HEAD, b"", retain=True)  # clear the retained message


def test_a_retained_head_ahead_of_us_asks_for_a_resync(harness: Harness, tmp_path: Path) -> None:
    state = hub_flags(tmp_path, [PERSON])
    harness.publish(topics.FLAGS_HEAD, state.head()[1], retain=True)
    wait_for(lambda: harness.link.resync_wanted, 10, "resync after a newer head")
    harness.publish(topics.FLAGS_HEAD, b"", retain=True)  # clear the retained message


def test_a_forged_head_digest_is_refused(harness: Harness) -> None:
    harness.publish(topics.FLAGS_HEAD, seal(HUB, "flags.head", 3, {"count": 1, "digest": "x"}, NOW))
    harness.settle(applied=0, rejected=1)
    assert not harness.link.resync_wanted


def test_a_command_for_another_kiosk_is_refused(harness: Harness) -> None:
    harness.publish(
        topics.commands("kiosk-1"), seal(HUB, "command", 1, {"action": "x"}, NOW, target="kiosk-2")
    )
    harness.publish(
        topics.commands("kiosk-1"), seal(HUB, "command", 2, {"action": "resync"}, NOW, target="kiosk-1")
    )
    harness.settle(applied=1, rejected=1)
    assert harness.applied[0].payload == {"action": "resync"}
    assert "addressed to kiosk-2" in harness.link.stats.last_rejection


def test_trust_lists_only_from_the_hub_and_only_newer(harness: Harness) -> None:
    mallory = Ed25519PrivateKey.generate()
    harness.publish(topics.TRUST, seal(HUB, "trust", 2, {"keys": []}, NOW))
    harness.settle(applied=1, rejected=0)
    harness.publish(topics.TRUST, seal(mallory, "trust", 3, {"keys": ["evil"]}, NOW))  # forged
    harness.publish(topics.TRUST, b'{"keys": ["evil"]}')  # unsigned
    harness.publish(topics.TRUST, seal(HUB, "trust", 2, {"keys": []}, NOW))  # replayed: the list in force
    harness.publish(topics.TRUST, seal(HUB, "trust", 2, {"keys": ["other"]}, NOW))  # same version, altered
    harness.publish(topics.TRUST, seal(HUB, "trust", 1, {"keys": []}, NOW))  # older
    harness.settle(applied=1, rejected=3)
    assert harness.store.applied_version("trust") == 2
    assert [u.type for u in harness.applied] == ["trust"]  # neither re-send was applied again
    # The current version again is no error: a retained national list is re-sent on every reconnect.
    assert harness.link.stats.updates_repeated == 2
