"""The frame -> decision -> record -> light loop with small stand-in stages."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from kiosk.camera import LatestFrameCapture
from kiosk.camera.base import Frame
from kiosk.camera.replay import GeneratedSource
from kiosk.clock import WallClock
from kiosk.pipeline import Decision, ScanPipeline, run_until_stopped
from kiosk.verify.verdict import Outcome, PayloadKind, Verdict

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Code:
    raw: bytes
    text: str | None


class PixelScanner:
    """'Reads' a code whose payload is the frame's first pixel value (0 = no code)."""

    def scan(self, gray: np.ndarray, now: float) -> list[Code]:
        value = int(gray[0, 0])
        return [Code(bytes([value]), str(value))] if value else []


class ParityDecider:
    def verify(
        self,
        raw: bytes,
        now: datetime,
        clock_trusted: bool = True,
        *,
        floor: datetime | None = None,
        hub_now: datetime | None = None,
    ) -> Verdict:
        if raw == b"\x07":
            raise ZeroDivisionError("bug in a parser")
        outcome = Outcome.PASS if raw[0] % 2 == 0 else Outcome.DENY
        return Verdict(outcome, PayloadKind.UNKNOWN, (), "", "")


class Journal:
    """Records the order in which stages saw each passage."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def record(self, decision: Decision) -> None:
        self.events.append(("record", decision.code.raw))

    def show(self, outcome: Outcome) -> None:
        self.events.append(("show", outcome))


def frame(value: int, seq: int = 1) -> Frame:
    gray = np.zeros((8, 8), np.uint8)
    gray[0, 0] = value
    return Frame(gray, seq, captured_at=0.0, source="test")


def make_pipeline(journal: Journal, recorder=None) -> ScanPipeline:
    return ScanPipeline(
        PixelScanner(),
        ParityDecider(),
        journal,
        WallClock(assume_trusted=True, source=lambda: T0),
        recorder=recorder or journal.record,
        monotonic=lambda: 0.004,
    )


def test_every_passage_is_recorded_before_its_light_shows() -> None:
    journal = Journal()
    pipeline = make_pipeline(journal)
    decisions = pipeline.process(frame(4)) + pipeline.process(frame(0)) + pipeline.process(frame(5))
    assert [d.verdict.outcome for d in decisions] == [Outcome.PASS, Outcome.DENY]
    assert journal.events == [
        ("record", b"\x04"),
        ("show", Outcome.PASS),
        ("record", b"\x05"),
        ("show", Outcome.DENY),
    ]
    assert decisions[0].clock.trusted and decisions[0].clock.now.timestamp() == T0
    assert decisions[0].latency_s == 0.004
    assert pipeline.stats.frames == 3 and pipeline.stats.decisions == 2


def test_a_failing_verifier_gives_a_recorded_red_light_not_a_crash() -> None:
    journal = Journal()
    pipeline = make_pipeline(journal)
    [decision] = pipeline.process(frame(7))
    assert decision.verdict.outcome is Outcome.DENY
    assert decision.verdict.reasons == ("internal_error",)
    assert "ZeroDivisionError" in str(decision.verdict.extra["detail"])
    assert journal.events == [("record", b"\x07"), ("show", Outcome.DENY)]
    assert pipeline.stats.errors == 1


def test_a_failing_recorder_still_shows_the_light_and_counts_the_error() -> None:
    journal = Journal()

    def broken(_decision: Decision) -> None:
        raise OSError("disk full")

    pipeline = make_pipeline(journal, recorder=broken)
    pipeline.process(frame(2))
    assert journal.events == [("show", Outcome.PASS)]
    assert pipeline.stats.errors == 1


def test_run_until_stopped_processes_a_finite_stream_and_returns() -> None:
    journal = Journal()
    values = [0, 2, 0, 3, 0]
    frames = [np.full((8, 8), v, np.uint8) for v in values]
    decisions: list[Decision] = []
    capture = LatestFrameCapture(GeneratedSource(frames, fps=200)).start()
    run_until_stopped(
        capture, make_pipeline(journal), threading.Event(), on_decision=decisions.append, poll_s=0.05
    )
    capture.stop()
    assert [d.code.raw for d in decisions] == [b"\x02", b"\x03"]


def test_run_until_stopped_honours_the_stop_event_and_calls_idle() -> None:
    stop = threading.Event()
    idles = []

    def idle() -> None:
        idles.append(1)
        if len(idles) == 3:
            stop.set()

    capture = LatestFrameCapture(GeneratedSource(lambda i: np.zeros((8, 8), np.uint8), fps=20)).start()
    run_until_stopped(capture, make_pipeline(Journal()), stop, on_idle=idle, poll_s=0.05)
    capture.stop()
    assert len(idles) == 3
