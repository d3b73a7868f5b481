"""The kiosk's flag state on its own (no broker): migration from saved documents, refusal of bad chunks,
restarts that rebuild the same list, per-bucket versions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.flags import add_flag, lift_flag
from hub.flagstate import FlagState
from kiosk.flagsync import LEGACY_UPDATE_PREFIX, FlagSync
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from testkit.linkrig import hub_database
from wire import flagdigest, flagsync
from wire.envelope import Signed, key_id, open_envelope, seal
from wire.errors import WireError
from wire.idhash import id_hash

HUB = Ed25519PrivateKey.generate()
TRUSTED = {key_id(HUB.public_key()): HUB.public_key()}
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
PEOPLE = [f"{3_000_000_000 + i:012d}" for i in range(300)]


def hub(tmp_path: Path, people: list[str] = PEOPLE) -> FlagState:
    db = hub_database(tmp_path / "hub.db")
    for p in people:
        add_flag(db, p, "F0", starts_at=NOW, actor="op", now=NOW)
    return FlagState(db, DEFAULT_KEY, lambda t, v, p: seal(HUB, t, v, p, NOW)).load()


def opened(data: bytes) -> Signed:
    return open_envelope(data, TRUSTED)


def resync(sync: FlagSync, state: FlagState) -> None:
    """What the link and the publisher do: the head, then every bucket the kiosk asks for."""
    sync.handle(opened(state.head()[1]))
    sync.tick()
    for b in sorted(sync.wanted):
        sync.handle(opened(state.chunk(b)))


def test_saved_update_documents_are_migrated_once_and_pruned(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "k.db")
    entry = flagsync.FlagEntry(id_hash(DEFAULT_KEY, PEOPLE[0]), "F0", 0)
    for version, payload in (
        (1, flagsync.delta_payload(0, [entry])),
        (2, flagsync.delta_payload(1, [], [1])),
    ):
        body = json.dumps({"type": "flags.delta", "payload": payload, "kid": ""})
        store.save_document(f"{LEGACY_UPDATE_PREFIX}{version:012d}", version, body)
    sync = FlagSync(store, FlagStore(DEFAULT_KEY)).load()
    assert sync.version == 2 and sync.flags.person(PEOPLE[0], NOW) is not None
    assert store.documents_with_prefix(LEGACY_UPDATE_PREFIX) == []  # pruned: the table replaces them
    store.close()
    again = FlagSync(KioskStore(tmp_path / "k.db"), FlagStore(DEFAULT_KEY)).load()
    assert again.version == 2 and again.digest.hexdigest() == sync.digest.hexdigest()


def test_a_cold_kiosk_fetches_only_non_empty_buckets_and_a_restart_rebuilds_the_same_list(
    tmp_path: Path,
) -> None:
    state = hub(tmp_path)
    sync = FlagSync(KioskStore(tmp_path / "k.db"), FlagStore(DEFAULT_KEY), grace_s=0).load()
    sync.handle(opened(state.head()[1]))
    occupied = {flagdigest.bucket_of(id_hash(DEFAULT_KEY, p)) for p in PEOPLE}
    assert sync.wanted == occupied  # empty buckets already match
    for b in sorted(sync.wanted):
        sync.handle(opened(state.chunk(b)))
    assert sync.version == state.version and not sync.wanted
    assert sync.digest.hexdigest() == state.digest.hexdigest()
    sync.store.close()
    again = FlagSync(KioskStore(tmp_path / "k.db"), FlagStore(DEFAULT_KEY)).load()
    assert again.version == state.version and again.digest.hexdigest() == state.digest.hexdigest()
    assert all(again.flags.person(p, NOW) is not None for p in PEOPLE)


def test_chunks_that_do_not_verify_or_are_older_are_refused(tmp_path: Path) -> None:
    state = hub(tmp_path)
    sync = FlagSync(KioskStore(tmp_path / "k.db"), FlagStore(DEFAULT_KEY), grace_s=0).load()
    resync(sync, state)
    b = flagdigest.bucket_of(id_hash(DEFAULT_KEY, PEOPLE[0]))
    good = opened(state.chunk(b)).payload
    lying = seal(HUB, "flags.chunk", state.version + 1, {**good, "sum": "0" * 16}, NOW)  # signed, but wrong
    with pytest.raises(WireError, match="does not match its sum"):
        sync.handle(opened(lying))
    elsewhere = seal(HUB, "flags.chunk", state.version + 1, {**good, "bucket": (b + 1) % 256}, NOW)
    with pytest.raises(WireError, match="outside the bucket"):
        sync.handle(opened(elsewhere))
    old = opened(state.chunk(b))  # at the current version
    lift_flag(state.db, PEOPLE[0], actor="op", now=NOW)
    for delta in state.advance():
        sync.handle(opened(delta.sealed))
    assert sync.flags.person(PEOPLE[0], NOW) is None
    with pytest.raises(WireError, match="stale"):
        sync.handle(old)  # a replayed older chunk cannot bring the lifted flag back
    assert sync.flags.person(PEOPLE[0], NOW) is None
    assert sync.digest.hexdigest() == state.digest.hexdigest()


def test_a_repaired_bucket_is_not_overwritten_by_an_older_delta(tmp_path: Path) -> None:
    state = hub(tmp_path, PEOPLE[:50])
    sync = FlagSync(KioskStore(tmp_path / "k.db"), FlagStore(DEFAULT_KEY), grace_s=0).load()
    resync(sync, state)
    base = state.version
    target = PEOPLE[0]
    b = flagdigest.bucket_of(id_hash(DEFAULT_KEY, target))
    add_flag(state.db, target, "F2", starts_at=NOW, actor="op", now=NOW)
    first = list(state.advance())
    lift_flag(state.db, target, actor="op", now=NOW)
    second = list(state.advance())
    sync.handle(opened(state.chunk(b)))  # the bucket at the newest version: lifted
    assert int(sync.bv[b]) == state.version and sync.version == base
    for delta in first + second:  # the deltas arrive late: they must not re-flag the person
        sync.handle(opened(delta.sealed))
    assert sync.flags.person(target, NOW) is None
    assert sync.version == state.version and sync.digest.hexdigest() == state.digest.hexdigest()


def test_a_disk_that_refuses_the_write_refuses_the_update_and_keeps_the_list_whole(tmp_path: Path) -> None:
    state = hub(tmp_path, PEOPLE[:20])
    store = KioskStore(tmp_path / "k.db")
    sync = FlagSync(store, FlagStore(DEFAULT_KEY), grace_s=0).load()
    resync(sync, state)
    before = (sync.version, sync.digest.hexdigest(), len(sync.flags))
    add_flag(state.db, PEOPLE[100], "F0", starts_at=NOW, actor="op", now=NOW)
    (delta,) = list(state.advance())
    store.db.execute("PRAGMA query_only = ON")  # as a full or read-only disk would
    with pytest.raises(WireError, match="flag store refused"):
        sync.handle(opened(delta.sealed))
    assert (sync.version, sync.digest.hexdigest(), len(sync.flags)) == before
    assert sync.flags.person(PEOPLE[100], NOW) is None
    store.db.execute("PRAGMA query_only = OFF")
    sync.handle(opened(delta.sealed))  # the same delta again, once the disk takes it
    assert (
        sync.flags.person(PEOPLE[100], NOW) is not None
        and sync.digest.hexdigest() == state.digest.hexdigest()
    )
