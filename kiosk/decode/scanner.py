"""Per-frame scanning as the kiosk does it: motion gate -> decoder (with budget) -> dedupe, with the
learned detector beside the loop for frames zxing-cpp could not read.

Per frame, in this order: the gate (a thumbnail difference, microseconds); on frames it passes, the
decoder's cheap path (the library's default search) and its recovery attempts within the frame
budget; on frames where the gate saw something and zxing-cpp read nothing, an *offer* to the learned
detector, which reads on its own thread and at its own rate (kiosk.decode.background). Its codes come
out of `scan` on a later frame, through the same dedupe window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk.decode.background import BackgroundReader
from kiosk.decode.config import DecodeConfig
from kiosk.decode.decoder import DecodedCode, QrDecoder
from kiosk.decode.dedupe import DedupeWindow
from kiosk.decode.learned import LearnedReader, WeChatReader
from kiosk.decode.motion import MotionGate


@dataclass
class ScanStats:
    frames: int = 0
    decoded_frames: int = 0  # frames that went through the decoder (not skipped by the gate)
    codes: int = 0  # symbols read, repeats included
    new_codes: int = 0  # passages: symbols not suppressed by the dedupe window
    learned_codes: int = 0  # symbols the learned detector read (repeats included)


class FrameScanner:
    def __init__(
        self,
        config: DecodeConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        learned: LearnedReader | None = None,
    ) -> None:
        """`learned` replaces the learned detector (tests inject stand-ins); by default it is WeChat's,
        built (model checksums verified) here, at start, when `config.learned_detector` is on."""
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
        if learned is None and self.config.learned_detector:
            # Its own QrDecoder: the worker thread must not share the frame loop's cost model.
            learned = WeChatReader(QrDecoder(self.config), threads=self.config.learned_threads)
        self.background = (
            BackgroundReader(learned, self.config.learned_max_duty, clock=clock)
            if learned is not None
            else None
        )
        self._clock = clock
        self._budget_s = self.config.frame_budget_ms / 1000.0
        self.stats = ScanStats()

    def scan(self, gray: np.ndarray, now: float) -> list[DecodedCode]:
        """New codes in this frame. `now` is the frame's capture time (monotonic seconds)."""
        stats, gate = self.stats, self.gate
        stats.frames += 1
        late = self.background.collect() if self.background is not None else []
        codes: list[DecodedCode] = []
        if gate is None or gate.should_decode(gray, now):
            stats.decoded_frames += 1
            # A static scene re-checked on the timer already had its full recovery (and its learned
            # look) when it last changed: only the plain pass and retries of located symbols repeat.
            moved = gate is None or gate.last_reason != "timer"
            codes = self.decoder.decode(gray, self._clock() + self._budget_s, recover=moved)
            if not codes and moved and self.background is not None:
                self.background.offer(gray)
            if gate is not None:
                gate.decoded(bool(codes or late))
        elif late and gate is not None:
            gate.decoded(True)  # someone is holding a code up: decode the next frames
        if late:
            stats.learned_codes += len(late)
            codes += late
        if not codes:
            return codes
        stats.codes += len(codes)
        seen_recently = self.dedupe.seen_recently
        fresh = [c for c in codes if not seen_recently(c.raw, now)]
        stats.new_codes += len(fresh)
        return fresh

    def drain(self, now: float, timeout: float | None = None) -> list[DecodedCode]:
        """For finite sources (files, benchmarks): wait for the learned detector's pending frame and
        return its new codes, as a next frame would. Never used by the live frame loop."""
        if self.background is None:
            return []
        self.background.wait_idle(timeout)
        late = self.background.collect()
        self.stats.learned_codes += len(late)
        self.stats.codes += len(late)
        fresh = [c for c in late if not self.dedupe.seen_recently(c.raw, now)]
        self.stats.new_codes += len(fresh)
        return fresh

    def close(self) -> None:
        if self.background is not None:
            self.background.close()
