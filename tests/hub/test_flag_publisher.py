"""Flags from the hub's operators reach running kiosks, and offline kiosks catch up by snapshot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private_key
from hub.db import Database, to_db_time
from hub.flag_publisher import FlagPublisher, load_signing_key
from hub.flags import (
    add_flag,
    changes_since,
    flag_dead_letter_count,
    flag_dead_letter_list,
    import_registry_changes,
    lift_flag,
    registry_cursor,
)
from hub.schema import flag_log
from kiosk.flagsync import FlagSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from testkit.linkrig import fast_link_config, hub_database, wait_for
from testkit.services import MosquittoBroker
from wire import topics

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


FULL_WIDTH_ID = "\uff10" * 11 + "\uff11"  # twelve full-width digits: str.isdigit() says yes, id_hash chokes


def _old_row(target_kind: str, target: str, status: str) -> dict[str, object]:
    """A flag-log row as an older hub stored it, written around today's validation."""
    t = to_db_time(now() - dt.timedelta(minutes=1))
    return {
        "target_kind": target_kind,
        "target": target,
        "status": status,
        "starts_at": t,
        "ends_at": None,
        "lifted": False,
        "source": "operator:old",
        "note": None,
        "created_at": t,
    }


def test_a_bad_row_in_the_flag_log_is_dead_lettered_and_later_flags_still_reach_kiosks(
    broker: MosquittoBroker, db: Database, tmp_path: Path
) -> None:
    """Issue 12 item 2: a pass target `zz` or a full-width id once stopped every later flag for good."""
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    online = Kiosk(broker, tmp_path / "k1.db", "kiosk-1")
    wait_for(lambda: online.link.connected, 10, "kiosk-1 to connect")
    try:
        with db.begin() as conn:
            conn.execute(sa.insert(flag_log), [_old_row("pass", "zz", "revoked")])
            conn.execute(sa.insert(flag_log), [_old_row("person", FULL_WIDTH_ID, "F0")])
        publisher.publish_pending()  # raised ValueError before: nothing after it ever left the hub
        add_flag(db, PERSON, "F0", starts_at=now() - dt.timedelta(minutes=1), actor="op", now=now())
        publisher.publish_pending()
        wait_for(lambda: online.status(PERSON) == "F0", 10, "the later F0 flag at kiosk-1")

        dead = flag_dead_letter_list(db)
        assert sorted((d["source"], d["version"]) for d in dead) == [("publisher", 1), ("publisher", 2)]
        assert publisher.dead_lettered == 2  # counted once each, however often they are seen again
        assert flag_dead_letter_count(db) == 2

        fresh = Kiosk(broker, tmp_path / "k2.db", "kiosk-2")  # a snapshot skips them too
        wait_for(lambda: fresh.status(PERSON) == "F0", 20, "kiosk-2 to get a snapshot")
        lift_flag(db, PERSON, actor="op", now=now())
        publisher.publish_pending()
        wait_for(lambda: online.status(PERSON) is None, 10, "the lift at kiosk-1")
        assert publisher.dead_lettered == 2 and flag_dead_letter_count(db) == 2
        fresh.link.stop()
    finally:
        online.link.stop()
        publisher.stop()


def test_registry_import_dead_letters_bad_changes_and_carries_on(db: Database) -> None:
    changes = [
        {"version": 1, "target": FULL_WIDTH_ID, "status": "F0"},
        {"version": 2, "target_kind": "pass", "target": "zz", "status": "revoked"},
        {"version": 3, "target": PERSON + "\n", "status": "F0"},
        {"version": 4, "target": OTHER, "status": "F1"},
        {"version": 5, "target_kind": "pass", "target": "00112233AABBCCDD", "status": "revoked"},
    ]
    assert import_registry_changes(db, 5, changes, now=now()) == 2
    assert registry_cursor(db) == 5  # the next poll asks for what comes after, not for these again
    assert [(c.target_kind, c.target) for c in changes_since(db, 0)] == [
        ("person", OTHER),
        ("pass", "00112233aabbccdd"),  # stored in one form: a lift in upper case finds it
    ]
    dead = flag_dead_letter_list(db)
    assert sorted(d["version"] for d in dead) == [1, 2, 3] and {d["source"] for d in dead} == {"registry"}
    assert "12-digit" in next(d["reason"] for d in dead if d["version"] == 1)
    assert import_registry_changes(db, 5, changes, now=now()) == 0  # a repeat sets nothing aside twice
    assert flag_dead_letter_count(db) == 3


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("person", FULL_WIDTH_ID),
        ("person", "00123456789"),
        ("person", PERSON + "\n"),
        ("person", "٠١٢٣٤٥٦٧٨٩٠١"),  # Arabic-Indic digits
        ("pass", "zz"),
        ("pass", "abc"),  # odd length
        ("pass", "00" * 33),  # longer than any pass id or signature hash
        ("pass", "0011223344556677\n"),
        ("lorry", PERSON),
    ],
)
def test_add_and_lift_refuse_targets_that_break_the_identity_rules(
    db: Database, kind: str, target: str
) -> None:
    with pytest.raises(ValueError, match="target"):
        add_flag(db, target, "F0", starts_at=now(), actor="op", now=now(), target_kind=kind)
    with pytest.raises(ValueError, match="target"):
        lift_flag(db, target, actor="op", now=now(), target_kind=kind)
    assert changes_since(db, 0) == []


def test_an_oversized_status_is_not_parsed(broker: MosquittoBroker, tmp_path: Path) -> None:
    """Was: any status payload was parsed whole by the publisher (kiosks ask for flag chunks in it)."""
    import json

    import paho.mqtt.client as mqtt

    from wire import topics
    from wire.status import MAX_STATUS_BYTES

    db = hub_database(tmp_path / "hub.db")
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-x")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        wanting = {"state": "online", "resync_buckets": [0]}
        big = json.dumps({**wanting, "pad": "x" * MAX_STATUS_BYTES}).encode()
        client.publish(topics.status("kiosk-big"), big, qos=1).wait_for_publish(10)
        client.publish(topics.status("kiosk-small"), json.dumps(wanting).encode(), qos=1).wait_for_publish(10)
        wait_for(lambda: publisher.chunks_sent >= 1, 10, "the small status's chunk")
    finally:
        client.loop_stop()
        client.disconnect()
        publisher.stop()
    assert publisher.chunks_sent == 1  # only kiosk-small's: the oversized status was dropped unread
    assert publisher.refused_statuses == 1  # and counted


def test_an_error_in_a_status_callback_does_not_end_the_publisher(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """A kiosk asks for flag chunks and serving them fails (issue 12 item 12): before the guard, paho
    re-raised the error out of its network thread and no flag left the hub again. (Chunks now come from
    a cache, not the database, so the failure is injected where the callback serves them.)"""
    db = hub_database(tmp_path / "hub.db")
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    serve = publisher.state.chunk

    def failing(bucket: int) -> bytes:
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))

    publisher.state.chunk = failing  # the injected fault
    asker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    asker.connect(broker.host, broker.port)
    asker.loop_start()
    status = {"state": "online", "resync_buckets": [3]}
    asker.publish(topics.status("kiosk-9"), json.dumps(status), qos=1).wait_for_publish(5)
    wait_for(lambda: publisher.callback_errors["flags.on_status"] >= 1, 10, "the status callback to fail")
    asker.loop_stop()
    asker.disconnect()
    publisher.state.chunk = serve
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
