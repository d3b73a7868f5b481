"""The hot path, one frame at a time: decode -> verify -> record -> indicate.

Everything here is wiring; each stage is a narrow interface so the loop can be tested with real
stages or small stand-ins, and benchmarked without hardware.

Order on purpose: the passage is recorded (durably, by the store) *before* the light shows, so a
power cut can never leave a verdict that someone saw without a record of it. The design sketch
lists indicate before record; we swapped them for that guarantee (the store's commit costs a few
milliseconds, well inside the frame budget).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from kiosk.camera.base import Frame
from kiosk.camera.capture import LatestFrameCapture
from kiosk.clock import ClockReading, WallClock
from kiosk.verify.verdict import Outcome, PayloadKind, Verdict

log = logging.getLogger(__name__)


class ScannedCode(Protocol):
    """What the decode stage hands over (kiosk.decode.DecodedCode satisfies it)."""

    @property
    def raw(self) -> bytes: ...

    @property
    def text(self) -> str | None: ...


class Scanner(Protocol):
    def scan(self, gray: np.ndarray, now: float) -> Sequence[ScannedCode]:
        """New codes in this frame (already de-duplicated), possibly none."""
        ...


class Decider(Protocol):
    def verify(
        self,
        raw: bytes,
        now: datetime,
        clock_trusted: bool = True,
        *,
        floor: datetime | None = None,
        hub_now: datetime | None = None,
    ) -> Verdict:
        """A verdict for one payload; pure, no I/O (`floor`, `hub_now`: kiosk/verify/timecontext.py)."""
        ...


class Show(Protocol):
    def show(self, outcome: Outcome) -> None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """One passage: what was read, what was decided, when, and how long it took."""

    code: ScannedCode
    verdict: Verdict
    clock: ClockReading
    frame_seq: int
    latency_s: float  # from frame capture to the decision, for the decode-rate/latency counters


Recorder = Callable[[Decision], None]


def internal_error_verdict(detail: str) -> Verdict:
    """A red light with an explanation when a stage failed: never a crash, never a silent pass."""
    return Verdict(
        outcome=Outcome.DENY,
        kind=PayloadKind.UNKNOWN,
        reasons=("internal_error",),
        message_vi="Lỗi hệ thống, vui lòng gặp cán bộ",
        message_en="System error, please see the officer",
        extra={"detail": detail},
    )


@dataclass
class PipelineStats:
    frames: int = 0
    decisions: int = 0
    errors: int = 0


class ScanPipeline:
    """Turns frames into decisions and lights. Stateless apart from counters and the stages' own state."""

    def __init__(
        self,
        scanner: Scanner,
        decider: Decider,
        indicator: Show,
        clock: WallClock,
        recorder: Recorder | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scanner = scanner
        self._decider = decider
        self._indicator = indicator
        self._clock = clock
        self._recorder = recorder
        self._monotonic = monotonic
        self.stats = PipelineStats()

    def process(self, frame: Frame) -> list[Decision]:
        self.stats.frames += 1
        codes = self._scanner.scan(frame.gray, frame.captured_at)
        decisions = []
        for code in codes:
            reading = self._clock.read()
            try:
                verdict = self._decider.verify(
                    code.raw, reading.now, reading.trusted, floor=reading.floor, hub_now=reading.hub_now
                )
            except Exception as exc:  # a verifier bug must still end in a red light and a record
                log.exception("verification failed")
                self.stats.errors += 1
                verdict = internal_error_verdict(f"{type(exc).__name__}: {exc}")
            decision = Decision(code, verdict, reading, frame.seq, self._monotonic() - frame.captured_at)
            if self._recorder is not None:
                try:
                    self._recorder(decision)
                except Exception:  # the store keeps what it cannot write and raises its own alarm
                    log.exception("recording a passage failed")
                    self.stats.errors += 1
            self._indicator.show(verdict.outcome)
            self.stats.decisions += 1
            decisions.append(decision)
        return decisions


def run_until_stopped(
    capture: LatestFrameCapture,
    pipeline: ScanPipeline,
    stop: threading.Event,
    on_decision: Callable[[Decision], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    poll_s: float = 0.5,
) -> None:
    """The kiosk's main loop: newest frame in, decisions out, until `stop` or a finite source ends.

    `on_idle` runs at least every `poll_s` (watchdog pings, status), even with no frames at all.
    """
    while not stop.is_set() and not capture.finished:
        frame = capture.next_frame(timeout=poll_s)
        if frame is not None:
            for decision in pipeline.process(frame):
                if on_decision is not None:
                    on_decision(decision)
        if on_idle is not None:
            on_idle()
