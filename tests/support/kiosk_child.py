"""Kiosk stand-in processes for crash tests: they run until killed (SIGKILL, at random points)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from kiosk.flagsync import FlagSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY, FlagStore
from testkit.linkrig import fast_link_config, passage_fields
from wire.envelope import load_public_key


def record_and_link_forever(store_path: str, port: int, seed: int) -> None:
    rng = random.Random(seed)
    store = KioskStore(Path(store_path))
    link = KioskLink(fast_link_config(port), "kiosk-1", store).start()
    i = 0
    while True:
        store.record(passage_fields(seed * 100_000 + i))
        link.nudge()
        i += 1
        time.sleep(rng.uniform(0, 0.01))


def flag_sync_forever(
    store_path: str, port: int, hub_public_pem: bytes, grace_s: float, ready_file: str | None = None
) -> None:
    """A kiosk's flag state and link (as the service wires them), applying the hub's updates until killed.
    `ready_file` is created once the link is started, so a killer can time its kill from there and not
    from a process start that a busy machine stretches."""
    store = KioskStore(Path(store_path))
    sync = FlagSync(store, FlagStore(DEFAULT_KEY), grace_s=grace_s).load()
    hub_key = load_public_key(hub_public_pem)
    KioskLink(fast_link_config(port), "kiosk-1", store, hub_keys=[hub_key], flags=sync).start()
    if ready_file is not None:
        Path(ready_file).touch()
    while True:
        time.sleep(1)
