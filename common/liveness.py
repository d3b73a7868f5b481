"""Liveness: loops that say they ran, and callbacks that never take their thread down with them.

Two ways a kiosk or hub process looks alive while doing nothing useful:

* a thread died. paho-mqtt re-raises an exception from a user callback, which ends its network
  thread (a full disk while saving an update, a database error while writing a status row), and
  delivery stops for good. `guarded` wraps every callback: the exception is logged and counted in
  `CallbackErrors`, and the thread goes on.
* a thread hangs. Each long-running loop calls `Heartbeats.beat(name)` once per pass (also when
  it has nothing to do: a heartbeat, not traffic), and the systemd watchdog is pinged only while
  every registered loop has beaten within the watchdog period. A kiosk offline for hours, or with
  its camera unplugged, keeps beating (its loops keep running, just idle) and is not restarted.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class Heartbeats:
    """Last time each named loop ran. Thread-safe; a loop is checked only once it has beaten."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def beat(self, name: str) -> None:
        now = self._clock()
        with self._lock:
            self._last[name] = now

    def forget(self, name: str) -> None:
        """A loop that ended on purpose (a finite replay source, a stop) is no longer expected."""
        with self._lock:
            self._last.pop(name, None)

    def stale(self, max_age_s: float) -> list[str]:
        """Names of the loops that have not run within `max_age_s`, sorted."""
        now = self._clock()
        with self._lock:
            return sorted(name for name, at in self._last.items() if now - at > max_age_s)

    def ages(self) -> dict[str, float]:
        """Seconds since each loop last ran (for status messages and logs)."""
        now = self._clock()
        with self._lock:
            return {name: round(now - at, 1) for name, at in sorted(self._last.items())}


class CallbackErrors(Counter[str]):
    """How many times each guarded callback raised (reported in status and by tests)."""


def guarded(name: str, errors: CallbackErrors, fn: Callable[P, R]) -> Callable[P, R | None]:
    """`fn` with every Exception logged and counted instead of raised into the caller's thread (it then
    returns None)."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            errors[name] += 1
            log.exception("%s failed (%d so far); carrying on", name, errors[name])
            return None

    return call


def watchdog_ok(
    beats: Heartbeats, period_s: float, extra: Callable[[], list[str]] | None = None
) -> list[str]:
    """Why the watchdog must not be pinged now (stale loops, dead threads): empty when all is well."""
    problems = [f"{name} has not run for over {period_s:.0f}s" for name in beats.stale(period_s)]
    if extra is not None:
        problems += extra()
    return problems
