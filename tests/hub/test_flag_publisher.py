"""Flags from the hub's operators reach running kiosks, and offline kiosks catch up by snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.flag_publisher import FlagPublisher, load_signing_key
from hub.flags import add_flag, lift_flag
from kiosk.flagsync import FlagSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from provisioning.keyfiles import write_private_key
from tests.support.linkrig import fast_link_config, hub_database, wait_for
from tests.support.services import MosquittoBroker

HUB = Ed25519PrivateKey.generate()
PERSON = "001099012345"
OTHER = "079084012345"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Kiosk:
    """A kiosk's link and its flag state, rebuilt from its store on every start (as the service does)."""

    def __init__(self, broker: MosquittoBroker, path: Path, kiosk_id: str) -> None:
        self.store = KioskStore(path)
        self.sync = FlagSync(self.store, FlagStore(DEFAULT_KEY)).load()
        self.flags = self.sync.flags
        self.link = KioskLink(
            fast_link_config(broker.port), kiosk_id, self.store, hub_keys=[HUB.public_key()], flags=self.sync
        ).start()

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

        # Restarted: its flags come back from its store.
        back = Kiosk(broker, tmp_path / "k1.db", "kiosk-1")
        wait_for(
            lambda: back.status(OTHER) == "F1" and back.status(PERSON) is None, 20, "kiosk-1 to catch up"
        )
        # Caught up by the deltas its persistent session kept, or by chunks: either is right.
        wait_for(lambda: back.store.applied_version("flags") == publisher.published, 10, "kiosk-1's version")

        fresh = Kiosk(broker, tmp_path / "k2.db", "kiosk-2")  # a new kiosk gets the whole list
        wait_for(lambda: fresh.status(OTHER) == "F1", 20, "kiosk-2 to get its buckets")
        assert fresh.status(PERSON) is None
        assert publisher.chunks_sent >= 1  # a new kiosk has no session: only chunks help it
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
