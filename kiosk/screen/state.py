"""What the kiosk's screen shows now: the latest verdict, for as long as its hold time.

The web page long-polls this (`wait_newer`), so a verdict appears on screen within the same frame
budget as the light. Personal details (name, date of birth, id number) are included only in
assisted mode, where an officer compares them with the ID card, and never outlive the hold time:
after it, the state is blank again whatever the page does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kiosk.verify.verdict import Verdict


class ScreenState:
    def __init__(self, hold_s: float, assisted: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self.assisted = assisted
        self._clock = clock
        self._cond = threading.Condition()
        self._version = 0
        self._current: dict[str, Any] | None = None
        self._expires_at = 0.0

    def show(self, verdict: Verdict, event_id: str | None = None) -> None:
        view: dict[str, Any] = {
            "outcome": verdict.outcome.value,
            "kind": verdict.kind.value,
            "reasons": list(verdict.reasons),
            "message_vi": verdict.message_vi,
            "message_en": verdict.message_en,
            "event_id": event_id,
            "subject": verdict.subject.to_dict() if (self.assisted and verdict.subject is not None) else None,
        }
        with self._cond:
            self._version += 1
            self._current = view
            self._expires_at = self._clock() + self.hold_s
            self._cond.notify_all()

    def current_event_id(self) -> str | None:
        """The event id of the verdict on screen now, None once its hold time has passed."""
        with self._cond:
            self._expire()
            return None if self._current is None else self._current["event_id"]

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            self._expire()
            return {"version": self._version, "assisted": self.assisted, "current": self._current}

    def wait_newer(self, version: int, timeout: float) -> dict[str, Any]:
        """Block until the state moves past `version` (a new verdict, or the shown one expiring).

        Returns the state after at most `timeout` seconds either way."""
        deadline = self._clock() + timeout
        with self._cond:
            while True:
                self._expire()
                if self._version > version:
                    break
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                wake = min(remaining, self._expires_at - self._clock()) if self._current else remaining
                self._cond.wait(max(0.01, wake))
            return {"version": self._version, "assisted": self.assisted, "current": self._current}

    def _expire(self) -> None:
        if self._current is not None and self._clock() >= self._expires_at:
            self._current = None
            self._version += 1
            self._cond.notify_all()
