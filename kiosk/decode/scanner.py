"""Per-frame scanning as the kiosk does it: motion gate -> decoder (with budget) -> dedupe."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk.decode.config import DecodeConfig
from kiosk.decode.decoder import DecodedCode, QrDecoder
from kiosk.decode.dedupe import DedupeWindow
from kiosk.decode.motion import MotionGate


@dataclass
class ScanStats:
    frames: int = 0
    decoded_frames: int = 0  # frames that went through the decoder (not skipped by the gate)
    codes: int = 0  # symbols read, repeats included
    new_codes: int = 0  # passages: symbols not suppressed by the dedupe window


class FrameScanner:
    def __init__(
        self, config: DecodeConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or DecodeConfig()
        self.decoder = QrDecoder(self.config, clock)
        self.dedupe = DedupeWindow(self.config.dedupe_window_s)
        self.gate = (
            MotionGate(
                self.config.motion_pixel_delta, self.config.motion_fraction, self.config.motion_max_skip_s
            )
            if self.config.motion_gate
            else None
        )
        self._clock = clock
        self.stats = ScanStats()

    def scan(self, gray: np.ndarray, now: float) -> list[DecodedCode]:
        """New codes in this frame. `now` is the frame's capture time (monotonic seconds)."""
        self.stats.frames += 1
        if self.gate is not None and not self.gate.should_decode(gray, now):
            return []
        self.stats.decoded_frames += 1
        # A static scene re-checked on the timer already had its full recovery when it last
        # changed: only the plain pass (and retries of symbols it locates) is worth repeating.
        recover = self.gate is None or self.gate.last_reason != "timer"
        codes = self.decoder.decode(
            gray, self._clock() + self.config.frame_budget_ms / 1000.0, recover=recover
        )
        if self.gate is not None:
            self.gate.decoded(bool(codes))
        self.stats.codes += len(codes)
        fresh = [c for c in codes if not self.dedupe.seen_recently(c.raw, now)]
        self.stats.new_codes += len(fresh)
        return fresh
