"""The end-to-end demo on embedded defaults: a replayed camera stream through the real kiosk pipeline.

People walk up and hold codes to a (replayed) camera; each passage is decided, lit on gpiozero
mock pins (no Pi needed) and printed as one JSON line. Nothing here is demo-only logic: it wires
the same camera, decode, verify and display parts the kiosk service uses.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.camera import LatestFrameCapture
from kiosk.camera.replay import FolderReplaySource
from kiosk.clock import WallClock
from kiosk.decode import DecodeConfig, FrameScanner
from kiosk.display import Indicator, IndicatorConfig
from kiosk.pipeline import Decider, Decision, ScanPipeline, run_until_stopped
from kiosk.simulate import script_for, write_replay_folder
from kiosk.verify.placeholder import UnverifiedDecider

# Synthetic people (never real data).
DEMO_PAYLOADS = [
    "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021",
    "001199012345||Trần Thị Bình|02021999|Nữ|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|20032022",
    "079084012345|023456789|Lê Văn Cường|03031984|Nam|Tổ 2, Phường D, Thành phố E, Tỉnh F|23092024||||",
    "this is not a checkpoint code",
]


def decision_line(decision: Decision) -> str:
    v = decision.verdict
    return json.dumps(
        {
            "at": decision.clock.now.isoformat(timespec="milliseconds"),
            "kind": v.kind.value,
            "verdict": v.outcome.value,
            "reasons": list(v.reasons),
            "subject": v.subject.to_dict() if v.subject else None,
            "message": v.message_en,
            "latency_ms": round(decision.latency_s * 1000, 1),
        },
        ensure_ascii=False,
    )


def run_demo(
    payloads: list[str] | None = None,
    fps: float | None = 15.0,
    decider: Decider | None = None,
    emit: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> list[Decision]:
    """Replay a generated street scene through the pipeline; returns the decisions made."""
    with tempfile.TemporaryDirectory(prefix="kiosk-demo-") as tmp:
        folder = (workdir or Path(tmp)) / "camera"
        write_replay_folder(folder, script_for(payloads or DEMO_PAYLOADS))
        capture = LatestFrameCapture(FolderReplaySource(folder, fps=fps)).start()
        pins = MockFactory(pin_class=MockPWMPin)
        indicator = Indicator(IndicatorConfig(gate_pin=24, hold_s=0.5), pin_factory=pins)
        pipeline = ScanPipeline(
            FrameScanner(DecodeConfig()),
            decider or UnverifiedDecider(),
            indicator,
            WallClock(assume_trusted=True),
        )
        decisions: list[Decision] = []

        def on_decision(decision: Decision) -> None:
            decisions.append(decision)
            emit(decision_line(decision))

        started = time.monotonic()
        try:
            run_until_stopped(capture, pipeline, threading.Event(), on_decision=on_decision, poll_s=0.2)
        finally:
            capture.stop()
            indicator.close()
        emit(
            f"demo: frames={pipeline.stats.frames} decisions={len(decisions)} "
            f"errors={pipeline.stats.errors} seconds={time.monotonic() - started:.1f}"
        )
        return decisions
