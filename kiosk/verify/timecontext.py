"""What the verifier knows about the time, as one value built by the caller (kiosk/clock.py).

A kiosk's clock can be wrong either way: set back (spoofed NTP, an RTC set wrong, a Pi without an
RTC after an offline reboot) it revives expired codes; set ahead it makes flags end early. So the
verifier gets, besides the reading and whether it is trusted, two times the kiosk has *proven*:

- `floor`: the true time is at least this (the build time, the newest hub-signed time, the last
  passage recorded with a trusted clock). A signed code that expired before the floor is expired
  whatever the clock says.
- `hub_now`: the newest time the hub signed, advanced by the time elapsed since (monotonic). Only
  this ends a flag (a flag's end time lifts it once the hub's time has passed it): the kiosk's own
  clock, set ahead, never lifts a flag. A kiosk that has never heard from its hub (no hub
  configured, the CLI) honours flag ends with a trusted clock only.

Pure data, no clock reads, so the verifier stays a function of its inputs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class TimeContext:
    now: dt.datetime
    trusted: bool = True
    floor: dt.datetime | None = None
    hub_now: dt.datetime | None = None

    @classmethod
    def of(
        cls,
        now: dt.datetime,
        trusted: bool = True,
        floor: dt.datetime | None = None,
        hub_now: dt.datetime | None = None,
    ) -> TimeContext:
        """Normalised: naive times are UTC, and a reading below the floor is never trusted."""
        now = _aware(now)
        floor = None if floor is None else _aware(floor)
        hub_now = None if hub_now is None else _aware(hub_now)
        if floor is not None and now < floor:
            trusted = False
        return cls(now, trusted, floor, hub_now)

    def expired_before_floor(self, exp: int, skew_s: int) -> bool:
        """The code's `exp` is before the proven floor (less the skew): expired, whatever the clock says."""
        return self.floor is not None and self.floor.timestamp() - skew_s > exp

    def flag_end_cutoff(self) -> dt.datetime | None:
        """Flags whose end is at or before this time have ended; None: no end time lifts a flag."""
        if self.hub_now is not None:
            return self.hub_now
        return self.now if self.trusted else None
