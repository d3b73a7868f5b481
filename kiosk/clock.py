"""Is the wall clock trustworthy? A Pi has no real-time clock: after a power cut without network it
may believe it is 1970 or the last time it saved. Verdicts on expiring passes depend on this, so the
answer is passed into the pure core with the time itself, never read inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# No kiosk can be running before this software existed: a clock earlier than this is certainly wrong.
SOFTWARE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# systemd-timesyncd touches this file once the clock was synchronised since boot.
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


@dataclass(frozen=True, slots=True)
class ClockReading:
    now: datetime
    trusted: bool
    reason: str  # "ntp_synchronized", "assumed", "before_software_epoch", "not_synchronized"


class WallClock:
    """Reads the time and judges it. `assume_trusted` is for kiosks with an RTC or GPS time."""

    def __init__(
        self,
        assume_trusted: bool = False,
        sync_flag: Path = TIMESYNC_FLAG,
        source: Callable[[], float] = time.time,
    ) -> None:
        self._assume = assume_trusted
        self._flag = sync_flag
        self._source = source

    def read(self) -> ClockReading:
        now = datetime.fromtimestamp(self._source(), tz=UTC)
        if now < SOFTWARE_EPOCH:
            return ClockReading(now, False, "before_software_epoch")
        if self._assume:
            return ClockReading(now, True, "assumed")
        if self._flag.exists():
            return ClockReading(now, True, "ntp_synchronized")
        return ClockReading(now, False, "not_synchronized")
