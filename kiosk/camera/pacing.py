"""Frame pacing for sources that could run faster than a real camera (files, generated frames)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Sleeps just enough to deliver frames at `fps`; `fps=None` means as fast as possible.

    Pacing is against an absolute schedule, so a slow frame does not push every later one back,
    and a schedule that fell far behind (a paused process) restarts instead of bursting.
    """

    def __init__(
        self,
        fps: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if fps is not None and fps <= 0:
            raise ValueError("fps must be positive")
        self._interval = None if fps is None else 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        if self._interval is None:
            return
        now = self._clock()
        if self._next is None or now - self._next > 5 * self._interval:
            self._next = now
        delay = self._next - now
        if delay > 0:
            self._sleep(delay)
        self._next += self._interval
