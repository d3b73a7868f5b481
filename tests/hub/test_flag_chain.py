"""Flags at scale: a large change is a chain of deltas, never a truncated one, and every kiosk proves its
list against the hub's head, repairing only the buckets that differ (real Mosquitto, real publisher)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub import audit
from hub.db import Database
from hub.flag_publisher import MAX_BUCKETS_PER_REQUEST, FlagPublisher
from hub.flags import active_flags, add_flag, changes_since, import_registry_changes
from hub.flagstate import FlagState
from kiosk.flagsync import FlagSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from testkit.linkrig import fast_link_config, forget_session, wait_for
from testkit.services import MosquittoBroker
from wire import flagdigest, flagsync
from wire.envelope import key_id, open_envelope, seal
from wire.idhash import id_hash

HUB = Ed25519PrivateKey.generate()
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
IMPORT = 10_050


def person(i: int) -> str:
    return f"{1_000_000_000 + i:012d}"


def registry_import(db: Database, n: int, lifted_every: int = 0) -> int:
    """n registry changes: F0/F1 flags for n persons, every `lifted_every`-th later lifted again."""
    changes = [
        {
            "version": i + 1,
            "target": person(i),
            "status": "F0" if i % 3 else "F1",
            "starts_at": "2026-11-01T00:00:00Z",
        }
        for i in range(n)
    ]
    if lifted_every:
        for i in range(0, n, lifted_every):
            changes.append({"version": len(changes) + 1, "target": person(i), "status": "F0", "lifted": True})
    return import_registry_changes(db, len(changes), changes, now=NOW)


def sealer(type_: str, version: int, payload: dict) -> bytes:
    return seal(HUB, type_, version, payload, NOW)


def expected_hashes(db: Database) -> set[int]:
    return {id_hash(DEFAULT_KEY, target) for (kind, target) in active_flags(db, NOW) if kind == "person"}


def test_a_large_import_is_a_chain_of_capped_deltas_whose_heads_match_a_rebuilt_state(db: Database) -> None:
    # The chain's properties at a fifth of the size (the 10,050-change case runs end to end below).
    n, cap = 2_050, 800
    assert registry_import(db, n, lifted_every=7) > n
    assert len(changes_since(db, 0)) > n  # no silent limit on the log
    state = FlagState(db, DEFAULT_KEY, sealer, delta_cap=cap)
    deltas = list(state.advance())
    assert [d.from_version for d in deltas[1:]] == [d.to_version for d in deltas[:-1]]  # chained
    assert deltas[0].from_version == 0 and deltas[-1].to_version == len(changes_since(db, 0))
    assert all(d.changes <= cap for d in deltas) and sum(d.changes for d in deltas) == len(
        changes_since(db, 0)
    )
    assert set(state.active_hashes()) == expected_hashes(db)
    rebuilt = FlagState(db, DEFAULT_KEY, sealer).load()  # from scratch, one scan
    assert rebuilt.digest.hexdigest() == state.digest.hexdigest()
    # Each delta carries the head it leads to, and the last one equals the retained head.
    trusted = {key_id(HUB.public_key()): HUB.public_key()}
    last = flagsync.delta_head(open_envelope(deltas[-1].sealed, trusted))
    head = flagsync.decode_head(open_envelope(state.head()[1], trusted))
    assert last is not None and last.digest == head.digest and head.version == deltas[-1].to_version
    assert head.count == len(expected_hashes(db))


def test_the_head_covers_status_start_end_and_revocations(db: Database) -> None:
    add_flag(db, person(1), "F1", starts_at=NOW, actor="op", now=NOW)
    state = FlagState(db, DEFAULT_KEY, sealer).load()
    before = state.digest.hexdigest()
    add_flag(db, person(1), "F0", starts_at=NOW, actor="op", now=NOW)  # same person, other status
    list(state.advance())
    after_status = state.digest.hexdigest()
    add_flag(db, person(1), "F0", starts_at=NOW, ends_at=NOW + dt.timedelta(days=1), actor="op", now=NOW)
    list(state.advance())
    after_end = state.digest.hexdigest()
    add_flag(db, "ab" * 16, "revoked", starts_at=NOW, actor="op", now=NOW, target_kind="pass")
    list(state.advance())
    assert len({before, after_status, after_end, state.digest.hexdigest()}) == 4
    assert state.digest.count == 1 and state.digest.revocations == 1


class Kiosk:
    def __init__(self, broker: MosquittoBroker, path: Path, kiosk_id: str) -> None:
        self.store = KioskStore(path)
        self.sync = FlagSync(self.store, FlagStore(DEFAULT_KEY)).load()
        self.link = KioskLink(
            fast_link_config(broker.port), kiosk_id, self.store, hub_keys=[HUB.public_key()], flags=self.sync
        ).start()

    def hashes(self) -> set[int]:
        return set(self.sync.flags.arrays()[0].tolist())

    def level_with(self, publisher: FlagPublisher) -> bool:
        return (
            self.sync.version == publisher.published
            and not self.sync.wanted
            and self.sync.digest.hexdigest() == publisher.state.digest.hexdigest()
        )

    def stop(self) -> None:
        self.link.stop()
        self.store.close()


def test_a_10050_change_import_reaches_every_kiosk_whole(
    db: Database, broker: MosquittoBroker, tmp_path: Path
) -> None:
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    kiosks = [Kiosk(broker, tmp_path / f"k{i}.db", f"kiosk-{i}") for i in range(3)]
    try:
        for k in kiosks:
            wait_for(lambda k=k: k.link.connected, 10, "a kiosk to connect")
        assert registry_import(db, IMPORT) == IMPORT
        assert publisher.publish_pending() == IMPORT
        for k in kiosks:
            wait_for(lambda k=k: k.level_with(publisher), 60, "every kiosk level with the hub")
            assert k.hashes() == expected_hashes(db)  # all 10,050: not 10,000
            assert k.sync.status_fields()["flags_state"] == "verified"
            assert k.sync.chunks_applied == 0  # the chain of deltas did it, no resync was needed
    finally:
        for k in kiosks:
            k.stop()
        publisher.stop()


def test_a_kiosk_with_a_corrupted_list_or_a_missed_delta_repairs_only_what_differs(
    db: Database, broker: MosquittoBroker, tmp_path: Path
) -> None:
    registry_import(db, 2_000)
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    assert publisher.connected.wait(10)
    path = tmp_path / "k.db"
    kiosk = Kiosk(broker, path, "kiosk-1")
    try:
        wait_for(lambda: kiosk.level_with(publisher), 60, "the new kiosk's resync")
        assert kiosk.hashes() == expected_hashes(db)
        kiosk.stop()

        # The disk is damaged: one person's status changed, another person gone.
        victim, lost = id_hash(DEFAULT_KEY, person(5)), id_hash(DEFAULT_KEY, person(6))
        damaged = {flagdigest.bucket_of(victim), flagdigest.bucket_of(lost)}
        conn = sqlite3.connect(path)
        signed = np.array([victim, lost], dtype=np.uint64).view(np.int64).tolist()
        conn.execute("UPDATE flag_entries SET s = 3 WHERE h = ?", [signed[0]])
        conn.execute("DELETE FROM flag_entries WHERE h = ?", [signed[1]])
        conn.commit()
        conn.close()
        sent = publisher.chunks_sent
        kiosk = Kiosk(broker, path, "kiosk-1")
        wait_for(lambda: kiosk.sync.last_mismatch is not None, 10, "the damage to be seen from the head")
        assert "2 bucket(s) differ" in (kiosk.sync.last_mismatch or "")  # seen as damage, not as lag
        wait_for(lambda: kiosk.level_with(publisher), 30, "the repair")
        assert publisher.chunks_sent - sent == len(damaged)  # only the buckets that differ
        assert kiosk.sync.flags.person(person(5), NOW).status.name == "F0"
        assert kiosk.hashes() == expected_hashes(db)
        kiosk.stop()

        # Offline, and its broker session gone: the deltas meanwhile are missed for good.
        add_flag(db, person(90_001), "F0", starts_at=NOW, actor="op", now=NOW)
        publisher.publish_pending()
        add_flag(db, person(90_002), "F2", starts_at=NOW, actor="op", now=NOW)
        publisher.publish_pending()
        forget_session(broker.host, broker.port, "kiosk-1")
        sent = publisher.chunks_sent
        kiosk = Kiosk(broker, path, "kiosk-1")
        wait_for(lambda: kiosk.level_with(publisher), 30, "the missed deltas repaired from the head")
        assert publisher.chunks_sent - sent <= 2
        assert kiosk.hashes() == expected_hashes(db)
    finally:
        kiosk.stop()
        publisher.stop()


def test_heads_and_chunks_are_built_once_per_version_and_chunks_rate_limited_per_kiosk(
    db: Database, broker: MosquittoBroker
) -> None:
    registry_import(db, 500)
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    try:
        assert publisher.connected.wait(10)
        state = publisher.state
        head, chunk = state.head()[1], state.chunk(3)
        publisher.publish_pending()  # nothing new: nothing rebuilt, nothing rescanned
        assert state.head()[1] is head and state.chunk(3) is chunk
        assert publisher.send_chunks("kiosk-x", [3, 4, 999, "x", True]) == 2  # junk in the list is ignored
        assert publisher.send_chunks("kiosk-x", [3, 4]) == 0  # asked again at once: rate-limited
        assert publisher.send_chunks("kiosk-y", [3]) == 1  # another kiosk: served from the same cache
        assert publisher.send_chunks("kiosk-z", list(range(256))) == MAX_BUCKETS_PER_REQUEST
        add_flag(db, person(99_999), "F0", starts_at=NOW, actor="op", now=NOW)
        version = publisher.publish_pending()
        fresh = open_envelope(state.chunk(3), {key_id(HUB.public_key()): HUB.public_key()})
        assert (
            state.chunk(3) is not chunk and fresh.version == version
        )  # a chunk says the version it is true at
    finally:
        publisher.stop()


def test_a_flag_committed_after_a_later_numbered_one_is_not_skipped(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two operators at once: the first writer is slow to commit. The publisher must never move past
    its version before it is visible (PostgreSQL numbers rows at insert, not at commit)."""
    state = FlagState(db, DEFAULT_KEY, sealer).load()
    inside, release = threading.Event(), threading.Event()
    real_record = audit.record

    def slow_first(conn, now, actor, action, detail):
        if actor == "slow":
            inside.set()
            release.wait(10)
        real_record(conn, now, actor, action, detail)

    monkeypatch.setattr(audit, "record", slow_first)
    slow = threading.Thread(
        target=add_flag, args=(db, person(1), "F0"), kwargs={"starts_at": NOW, "actor": "slow", "now": NOW}
    )
    slow.start()
    assert inside.wait(10)  # the slow writer holds its version, uncommitted
    fast = threading.Thread(
        target=add_flag, args=(db, person(2), "F0"), kwargs={"starts_at": NOW, "actor": "fast", "now": NOW}
    )
    fast.start()
    fast.join(1.0)
    list(state.advance())  # the publisher looks while the slow one is still open
    release.set()
    slow.join(10)
    fast.join(10)
    list(state.advance())
    assert (
        set(state.active_hashes()) == expected_hashes(db) == {id_hash(DEFAULT_KEY, person(i)) for i in (1, 2)}
    )
