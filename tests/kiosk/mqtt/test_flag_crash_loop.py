"""A kiosk killed with SIGKILL at random points while applying flag deltas and chunks, again and again,
always ends with exactly the hub's active set (real Mosquitto, real hub publisher, a churning flag log)."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.db import Database
from hub.flag_publisher import FlagPublisher
from hub.flags import add_flag, import_registry_changes, lift_flag, registry_cursor
from kiosk.flagsync import FlagSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from testkit.linkrig import fast_link_config, forget_session, hub_database, wait_for
from testkit.services import MosquittoBroker
from tests.support.kiosk_child import flag_sync_forever
from wire.envelope import public_pem

RUNS = 50
MIN_CHECKED = RUNS // 5  # kills that must land between two updates, where the disk is checked against a head
MAX_RUNS = 3 * RUNS  # a busy machine lands more kills inside resyncs: kill more often, up to this
HUB = Ed25519PrivateKey.generate()
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def person(i: int) -> str:
    return f"{2_000_000_000 + i:012d}"


def registry_batch(db: Database, rng: random.Random, n: int) -> None:
    """n registry changes at once: flags added, changed and lifted (a chain of several deltas)."""
    cursor = registry_cursor(db)
    changes = []
    for k in range(n):
        i = rng.randrange(20_000)
        ends = rng.choice([None, "2027-01-01T00:00:00Z"])
        status = rng.choice(["F0", "F1", "F2"])
        change = {"version": cursor + k + 1, "target": person(i), "status": status, "ends_at": ends}
        change["lifted"] = rng.random() < 0.2
        changes.append(change)
    import_registry_changes(db, cursor + n, changes, now=NOW)


def churn(db: Database, publisher: FlagPublisher, stop: threading.Event, seed: int) -> None:
    """Operators and registry imports change the flag log; the publisher sends each change out."""
    rng = random.Random(seed)
    flagged: list[str] = []
    step = 0
    while not stop.is_set():
        step += 1
        if step % 10 == 0:
            registry_batch(db, rng, rng.randrange(500, 2_500))
        elif flagged and rng.random() < 0.3:
            target = flagged.pop(rng.randrange(len(flagged)))
            with contextlib.suppress(KeyError):
                lift_flag(db, target, actor="op", now=NOW)
        elif rng.random() < 0.2:
            add_flag(db, f"{rng.randrange(1 << 64):016x}", "revoked", starts_at=NOW, actor="op", now=NOW,
                     target_kind="pass")  # fmt: skip
        else:
            target = person(20_000 + rng.randrange(5_000))
            add_flag(db, target, rng.choice(["F0", "F1"]), starts_at=NOW, actor="op", now=NOW)
            flagged.append(target)
        publisher.publish_pending()
        time.sleep(rng.uniform(0.01, 0.08))


@pytest.mark.timeout(480)  # up to MAX_RUNS kills on a busy machine
def test_sigkill_while_applying_deltas_and_chunks_always_ends_with_the_hubs_active_set(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.support.kiosk_child"])
    db = hub_database(tmp_path / "hub.db")
    registry_batch(db, random.Random(1), 3_000)
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port)
    publisher.state.delta_cap = 300  # long chains: more points to be killed at between two deltas
    heads = record_heads(publisher)
    publisher.start()
    assert publisher.connected.wait(10)
    store_path = tmp_path / "kiosk.db"
    rng = random.Random(2026)
    stop = threading.Event()
    churner = threading.Thread(target=churn, args=(db, publisher, stop, 7), daemon=True)
    churner.start()
    pem = public_pem(HUB.public_key())
    checked = 0
    try:
        runs = 0
        while runs < RUNS or (checked < MIN_CHECKED and runs < MAX_RUNS):
            runs += 1
            if rng.random() < 0.3:  # away too long: its queued deltas are gone, only chunks repair it
                forget_session(broker.host, broker.port, "kiosk-1")
            ready = tmp_path / f"ready-{runs}"
            child = ctx.Process(
                target=flag_sync_forever, args=(str(store_path), broker.port, pem, 0.2, str(ready))
            )
            child.start()
            # Killed at a random point after its link started: timed from the process start instead, a
            # busy machine (slow start-up) moved every kill into the first resync (1 of 50 checkable).
            wait_for(ready.exists, 60, "the kiosk child's link to start")
            time.sleep(rng.uniform(0.1, 1.0))
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            assert child.exitcode == -signal.SIGKILL
            checked += disk_matches_a_head(store_path, heads)
    finally:
        stop.set()
        churner.join(30)
    publisher.publish_pending()
    store = KioskStore(store_path)
    sync = FlagSync(store, FlagStore(DEFAULT_KEY), grace_s=0.2).load()
    link = KioskLink(fast_link_config(broker.port), "kiosk-1", store, hub_keys=[HUB.public_key()], flags=sync)
    try:
        with link:
            wait_for(
                lambda: (
                    sync.version == publisher.published
                    and not sync.wanted
                    and sync.digest.hexdigest() == publisher.state.digest.hexdigest()
                ),
                60,
                "the kiosk level with the hub after the crash loop",
            )
    finally:
        publisher.stop()
    h, s, a, e = sync.flags.arrays()
    kiosk = {int(x): (int(y), int(z), int(w)) for x, y, z, w in zip(h, s, a, e, strict=True)}
    assert kiosk == publisher.state.active_hashes()  # exactly: hash, status, start, end
    assert {("pass_id", v) for v in sync.flags.pass_ids} == publisher.state.revocations()
    print(f"checked {checked} of {runs} kills against a head")
    # Kills in the middle of a resync (buckets at different versions) cannot be checked this way; on this
    # machine 20-43 of 50 could. The end state below is checked after every run of the loop.
    assert checked >= MIN_CHECKED
    assert publisher.chunks_sent > 0  # the loop did kill kiosks in the middle of chunk resyncs too
    assert len(kiosk) > 1_000


def record_heads(publisher: FlagPublisher) -> dict[int, str]:
    """version -> digest of every head the hub signs (retained or inside a delta)."""
    heads: dict[int, str] = {}
    seal = publisher.state._seal

    def recording(type_: str, version: int, payload: dict) -> bytes:
        if type_ == "flags.head":
            heads[version] = payload["digest"]
        elif type_ == "flags.delta":
            heads[version] = payload["head"]["digest"]
        return seal(type_, version, payload)

    publisher.state._seal = recording
    return heads


def disk_matches_a_head(store_path: Path, heads: dict[int, str]) -> int:
    """After a kill, the stored list is exactly the hub's list at the stored version (one transaction
    moved both), unless the kiosk was between two chunks of a resync (buckets ahead of its version).
    Returns 1 when checked."""
    store = KioskStore(store_path)
    try:
        sync = FlagSync(store, FlagStore(DEFAULT_KEY)).load()
        if int(sync.bv.max()) != sync.version or sync.version not in heads:
            return 0
        assert sync.digest.hexdigest() == heads[sync.version], f"torn flag state at version {sync.version}"
        return 1
    finally:
        store.close()
