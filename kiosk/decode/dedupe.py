"""One passage per code held up, not one per frame.

A code counts again only after it has been out of sight for the whole window: the window slides
with every sighting, so a phone held in front of the camera for ten seconds is still one passage,
and the same person coming back after a pause is a new one. Memory is bounded: entries older than
the window are dropped, and at most `max_entries` codes are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from hashlib import blake2b


class DedupeWindow:
    def __init__(self, window_s: float = 3.0, max_entries: int = 1024) -> None:
        self.window_s = window_s
        self._max = max_entries
        self._last_seen: OrderedDict[bytes, float] = OrderedDict()  # oldest sighting first

    def seen_recently(self, raw: bytes, now: float) -> bool:
        """Record a sighting; True if it continues a passage already counted (suppress it)."""
        last_seen = self._last_seen
        if last_seen:
            self._expire(now)
        key = blake2b(raw, digest_size=16).digest()
        # pop and insert again: the entry moves to the newest end in one step.
        recent = last_seen.pop(key, None) is not None
        last_seen[key] = now
        while len(last_seen) > self._max:
            last_seen.popitem(last=False)
        return recent

    def _expire(self, now: float) -> None:
        last_seen, window = self._last_seen, self.window_s
        while last_seen:
            key, seen = next(iter(last_seen.items()))
            if now - seen < window:
                break
            del last_seen[key]

    def __len__(self) -> int:
        return len(self._last_seen)
