"""A kiosk stand-in process for crash tests: records passages and runs the link until killed."""

from __future__ import annotations

import random
import time
from pathlib import Path

from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from tests.support.linkrig import fast_link_config, passage_fields


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
