"""Reconnect delays: exponential with full jitter, so a fleet never reconnects in lockstep.

After a broker restart, hundreds of kiosks notice at the same instant. Fixed or merely exponential
delays keep them synchronised and hammer the broker in waves; "full jitter" (a uniform delay
between zero and the exponential bound) spreads them out.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        bound = min(self.maximum, self.minimum * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(self.minimum / 2, bound)

    def reset(self) -> None:
        self.attempt = 0
