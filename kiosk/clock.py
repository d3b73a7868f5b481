"""Is the wall clock trustworthy? A Pi has no real-time clock: after a power cut without network it
may believe it is 1970 or the last time it saved; NTP can be spoofed, an RTC set wrong. Verdicts on
expiring passes and flag ends depend on this, so the answer is passed into the pure core with the
time itself (kiosk/verify/timecontext.py), never read inside it.

The kiosk keeps a *time floor*: the true time is at least the newest of
- the build time (kiosk/build_stamp.py, stamped at packaging by `scripts/stamp-build`),
- the newest `issued_at` of a message the hub signed (wire/envelope.py; the hub re-signs its flag
  head every second or so, so an online kiosk's floor follows the hub's clock),
- the last passage recorded with a trusted clock,
each advanced by the monotonic time elapsed since it was seen (a little less, for a fast crystal),
and kept in `state_dir/time-floor.json` across restarts. A reading more than the policy's skew below
the floor is untrusted (`behind_floor`), and the kiosk then uses the floor as its time.

The newest hub-signed time, advanced the same way, is kept apart as `hub_now`: it alone ends flags,
so a kiosk clock set ahead cannot lift one. A floor poisoned by a clock set far ahead while it was
trusted makes every later reading untrusted until the true time catches up: stop the kiosk and
delete `time-floor.json` to recover (README, "Time on the kiosk").
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kiosk.build_stamp import BUILD_TIME as _BUILD_STAMP
from kiosk.verify.timecontext import TimeContext

log = logging.getLogger(__name__)

# No kiosk can be running before this software existed: a clock earlier than this is certainly wrong.
SOFTWARE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
BUILD_TIME = max(SOFTWARE_EPOCH, datetime.fromisoformat(_BUILD_STAMP).astimezone(UTC))
# systemd-timesyncd touches this file once the clock was synchronised since boot.
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
# Elapsed monotonic time counts this much less: a Pi's crystal may run fast by up to ~100 ppm, and
# the floor must stay below the true time through months of uptime.
MONOTONIC_MARGIN = 1e-4
PERSIST_EVERY_S = 300.0  # a power cut loses at most this much of the floor's progress; SD-card friendly


@dataclass(frozen=True, slots=True)
class ClockReading:
    now: datetime
    trusted: bool
    reason: str  # "ntp_synchronized", "assumed", "before_software_epoch", "not_synchronized", "behind_floor"
    floor: datetime | None = None  # proven lower bound of the true time (None: none kept)
    hub_now: datetime | None = None  # the hub's signed time, advanced; None: never heard from the hub

    def context(self) -> TimeContext:
        """What the verifier gets."""
        return TimeContext.of(self.now, self.trusted, self.floor, self.hub_now)


class TimeFloor:
    """Proven lower bounds of the true time (see the module docstring). Thread-safe: the scan loop
    and the link thread raise it, the clock reads it."""

    def __init__(
        self,
        path: Path | None,
        build_time: datetime = BUILD_TIME,
        monotonic: Callable[[], float] = time.monotonic,
        persist_every_s: float = PERSIST_EVERY_S,
    ) -> None:
        self._path = path
        self._mono = monotonic
        self._persist_every = persist_every_s
        self._lock = threading.Lock()
        floor, hub = self._load()
        started = monotonic()
        self._floor = (max(build_time.timestamp(), floor or 0.0), started)
        self._hub = None if hub is None else (hub, started)
        self._persisted_at = started

    def _load(self) -> tuple[float | None, float | None]:
        if self._path is None or not self._path.exists():
            return None, None
        try:
            doc = json.loads(self._path.read_text())
            floor, hub = doc.get("floor"), doc.get("hub")
            if not isinstance(floor, int | float) or not (hub is None or isinstance(hub, int | float)):
                raise ValueError("floor/hub must be epoch seconds")
            return float(floor), None if hub is None else float(hub)
        except (OSError, ValueError, AttributeError) as exc:  # a torn or edited file: start from the build
            log.warning("time floor %s unreadable (%s): starting from the build time", self._path, exc)
            return None, None

    def _advanced(self, base: tuple[float, float]) -> float:
        epoch, seen_at = base
        return epoch + max(0.0, self._mono() - seen_at) * (1.0 - MONOTONIC_MARGIN)

    def floor(self) -> datetime:
        with self._lock:
            return datetime.fromtimestamp(self._advanced(self._floor), UTC)

    def hub_now(self) -> datetime | None:
        with self._lock:
            return None if self._hub is None else datetime.fromtimestamp(self._advanced(self._hub), UTC)

    def saw_hub_time(self, signed_at: datetime) -> None:
        """A verified hub message's `issued_at`: the hub's clock had passed it (a replay is older)."""
        t = signed_at.timestamp()
        with self._lock:
            if self._hub is None or t > self._advanced(self._hub):
                self._hub = (t, self._mono())
            self._raise(t)

    def saw_trusted_time(self, t: datetime) -> None:
        """A passage was recorded at `t` with a trusted clock."""
        with self._lock:
            self._raise(t.timestamp())

    def _raise(self, t: float) -> None:
        if t > self._advanced(self._floor):
            self._floor = (t, self._mono())

    def persist(self, force: bool = False) -> None:
        """Write the floor (as advanced now) at most every `persist_every_s`, or now if `force`."""
        if self._path is None:
            return
        with self._lock:
            if not force and self._mono() - self._persisted_at < self._persist_every:
                return
            doc = {
                "floor": self._advanced(self._floor),
                "hub": None if self._hub is None else self._advanced(self._hub),
            }
            self._persisted_at = self._mono()
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            with tmp.open("w") as f:
                json.dump(doc, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except OSError as exc:  # a full or read-only disk: the floor still holds in memory
            log.warning("time floor not saved: %s", exc)


class WallClock:
    """Reads the time and judges it. `assume_trusted` is for kiosks with an RTC or GPS time.

    With a `floor`, a reading more than `tolerance_s` below it is untrusted (`behind_floor`), and a
    reading below it is replaced by it (the best lower bound of the true time)."""

    def __init__(
        self,
        assume_trusted: bool = False,
        sync_flag: Path = TIMESYNC_FLAG,
        source: Callable[[], float] = time.time,
        floor: TimeFloor | None = None,
        tolerance_s: float = 300.0,
    ) -> None:
        self._assume = assume_trusted
        self._flag = sync_flag
        self._source = source
        self._floor = floor
        self._tolerance = tolerance_s

    def read(self) -> ClockReading:
        raw = datetime.fromtimestamp(self._source(), tz=UTC)
        floor = self._floor.floor() if self._floor is not None else None
        hub_now = self._floor.hub_now() if self._floor is not None else None
        now = raw if floor is None else max(raw, floor)
        if raw < SOFTWARE_EPOCH:
            return ClockReading(now, False, "before_software_epoch", floor, hub_now)
        if floor is not None and (floor - raw).total_seconds() > self._tolerance:
            return ClockReading(now, False, "behind_floor", floor, hub_now)
        if self._assume:
            return ClockReading(now, True, "assumed", floor, hub_now)
        if self._flag.exists():
            return ClockReading(now, True, "ntp_synchronized", floor, hub_now)
        return ClockReading(now, False, "not_synchronized", floor, hub_now)
