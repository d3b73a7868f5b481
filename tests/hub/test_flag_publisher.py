"""Flags from the hub's operators reach running kiosks, and offline kiosks catch up by snapshot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.flag_publisher import FlagPublisher, load_signing_key
from hub.flags import add_flag, lift_flag
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flag_updates import apply_update
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from provisioning.keyfiles import write_private_key
from tests.support.linkrig import fast_link_config, hub_database, wait_for
from tests.support.services import MosquittoBroker
from wire import topics
from wire.envelope import Signed

HUB = Ed25519PrivateKey.generate()
PERSON = "001099012345"
OTHER = "079084012345"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Kiosk:
    def __init__(
        self, broker: MosquittoBroker, path: Path, kiosk_id: str, flags: FlagStore | None = None
    ) -> None:
        self.flags = flags if flags is not None else FlagStore(DEFAULT_KEY)
        self.store = KioskStore(path)
        self.link = KioskLink(
            fast_link_config(broker.port),
            kiosk_id,
            self.store,
            hub_keys=[HUB.public_key()],
            on_update=self.apply,
        ).start()

    def apply(self, update: Signed) -> None:
        if update.type in ("flags.delta", "flags.snapshot"):
            apply_update(self.flags, update)

    def status(self, id_number: str) -> str | None:
        hit = self.flags.person(id_number, now())
        return None if hit is None else hit.status.name


def test_flags_added_and_lifted_at_the_hub_reach_kiosks_and_offline_kiosks_catch_up(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    db = hub_database(tmp_path / "hub.db")
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    online = Kiosk(broker, tmp_path / "k1.db", "kiosk-1")
    wait_for(lambda: online.link.connected, 10, "kiosk-1 to connect")
    try:
        add_flag(db, PERSON, "F0", starts_at=now() - dt.timedelta(minutes=1), actor="op", now=now())
        publisher.publish_pending()
        wait_for(lambda: online.status(PERSON) == "F0", 10, "the F0 flag at kiosk-1")

        online.link.stop()  # kiosk-1 goes offline; the hub carries on
        add_flag(db, OTHER, "F1", starts_at=now() - dt.timedelta(minutes=1), actor="op", now=now())
        publisher.publish_pending()
        lift_flag(db, PERSON, actor="op", now=now())
        publisher.publish_pending()

        # Restarted with its store and flags (the service rebuilds them from saved updates).
        back = Kiosk(broker, tmp_path / "k1.db", "kiosk-1", flags=online.flags)
        wait_for(
            lambda: back.status(OTHER) == "F1" and back.status(PERSON) is None, 20, "kiosk-1 to catch up"
        )
        # Caught up by the deltas its persistent session kept, or by a snapshot: either is right.
        assert back.store.applied_version("flags") == publisher.published

        fresh = Kiosk(broker, tmp_path / "k2.db", "kiosk-2")  # a new kiosk gets the whole list
        wait_for(lambda: fresh.status(OTHER) == "F1", 20, "kiosk-2 to get a snapshot")
        assert fresh.status(PERSON) is None
        assert publisher.snapshots_sent >= 1  # a new kiosk has no session: only a snapshot helps it
        back.link.stop()
        fresh.link.stop()
    finally:
        publisher.stop()


def test_signing_key_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "hub-signing.key"
    write_private_key(path, HUB)
    assert load_signing_key(path).public_key() == HUB.public_key()
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        load_signing_key(path)


def test_a_database_error_in_a_status_callback_does_not_end_the_publisher(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """A kiosk asks for a resync while the flag table cannot be read (issue 12 item 12): before the
    guard, paho re-raised the error out of its network thread and no flag left the hub again."""
    db = hub_database(tmp_path / "hub.db")
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    with db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE flag_log RENAME TO flag_log_away")  # reads now fail
    asker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    asker.connect(broker.host, broker.port)
    asker.loop_start()
    status = {"state": "online", "flags_version": 0, "resync_wanted": True}
    asker.publish(topics.status("kiosk-9"), json.dumps(status), qos=1).wait_for_publish(5)
    wait_for(lambda: publisher.callback_errors["flags.on_status"] >= 1, 10, "the status callback to fail")
    asker.loop_stop()
    asker.disconnect()
    with db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE flag_log_away RENAME TO flag_log")
    kiosk = Kiosk(broker, tmp_path / "k1.db", "kiosk-1")
    try:
        wait_for(lambda: kiosk.link.connected, 10, "kiosk-1 to connect")
        add_flag(db, PERSON, "F0", starts_at=now() - dt.timedelta(minutes=1), actor="op", now=now())
        publisher.publish_pending()
        wait_for(lambda: kiosk.status(PERSON) == "F0", 10, "the F0 flag at kiosk-1 after the error")
        assert publisher.problems() == []
    finally:
        kiosk.link.stop()
        publisher.stop()
