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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from common.trust import TrustStore, key_from_public_key
from kiosk.camera import LatestFrameCapture
from kiosk.camera.replay import FolderReplaySource
from kiosk.clock import WallClock
from kiosk.decode import DecodeConfig, FrameScanner
from kiosk.display import Indicator, IndicatorConfig
from kiosk.pipeline import Decider, Decision, ScanPipeline, run_until_stopped
from kiosk.simulate import script_for, write_replay_folder
from kiosk.verify.flags import FlagStatus, FlagStore, PersonFlag
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verifier import Verifier
from provisioning.issuer import IssuerKey, create_issuer_key, mint_pass

# Synthetic people (never real data).
AN = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
BINH = "001199012345||Trần Thị Bình|02021999|Nữ|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|20032022"
CUONG_ID = "079084012345"
CUONG = f"{CUONG_ID}|023456789|Lê Văn Cường|03031984|Nam|Tổ 2, Phường D, Thành phố E, Tỉnh F|23092024||||"


@dataclass(frozen=True)
class DemoWorld:
    """An issuer, a flag list and a supermarket policy, made fresh for each run."""

    verifier: Verifier
    payloads: list[str]
    expected: list[str]  # the verdict each payload should get, for the summary and the tests


def demo_world(now: datetime) -> DemoWorld:
    issuer = create_issuer_key("VN-HN-DEMO")
    forger = create_issuer_key("VN-HN-DEMO")  # same name, different key: a forgery
    flags = FlagStore()
    flags.apply_delta(
        [PersonFlag(flags.hash_id(CUONG_ID), FlagStatus.F0, int((now - timedelta(days=1)).timestamp()))],
        [],
        1,
    )

    def pass_for(key: IssuerKey, id_number: str, name: str, dob: str, days: float) -> str:
        start = now - timedelta(days=2)
        return mint_pass(
            key,
            id_number=id_number,
            name=name,
            dob=dob,
            valid_from=start,
            valid_until=now + timedelta(days=days),
        )

    payloads = [
        pass_for(issuer, "001099012346", "Phạm Văn Dũng", "1990-05-05", 30),  # valid pass
        AN,  # bare CCCD: PASS at a supermarket
        pass_for(forger, "001099012347", "Hoàng Thị Em", "1992-06-06", 30),  # forged
        CUONG,  # CCCD of a person flagged F0
        pass_for(issuer, "001099012348", "Vũ Văn Giang", "1985-07-07", -1),  # expired yesterday
        BINH,
        "this is not a checkpoint code",
    ]
    expected = ["PASS", "PASS", "DENY", "DENY", "DENY", "PASS", "DENY"]
    trust = TrustStore([key_from_public_key(issuer.public_key, "demo issuer")])
    verifier = Verifier(trust, flags, PolicyConfig(identity_only="PASS"))
    return DemoWorld(verifier, payloads, expected)


def decision_line(decision: Decision) -> str:
    v = decision.verdict
    return json.dumps(
        {
            "at": decision.clock.now.isoformat(timespec="milliseconds"),
            "kind": v.kind.value,
            "verdict": v.outcome.value,
            "reasons": list(v.reasons),
            "subject": v.subject.to_dict() if v.subject else None,
            "message": v.message_vi,
            "latency_ms": round(decision.latency_s * 1000, 1),
        },
        ensure_ascii=False,
    )


def run_demo(
    fps: float | None = 15.0,
    emit: Callable[[str], None] = print,
    world: DemoWorld | None = None,
    decider: Decider | None = None,
) -> list[Decision]:
    """Replay a generated street scene through the pipeline; returns the decisions made."""
    world = world or demo_world(datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="kiosk-demo-") as tmp:
        folder = Path(tmp) / "camera"
        write_replay_folder(folder, script_for(world.payloads))
        pins = MockFactory(pin_class=MockPWMPin)
        indicator = Indicator(IndicatorConfig(gate_pin=24, hold_s=0.5), pin_factory=pins)
        # The scanner first (it loads the learned detector's models): a capture started earlier would
        # drop the first passer-by's frames while it loads, as the newest-frame capture should. The
        # learned fallback reads in the idle time between camera frames; an unpaced replay (fps=None)
        # has none, and every cycle it took would be frames the newest-frame capture drops.
        scanner = FrameScanner(DecodeConfig(learned_detector=fps is not None))
        pipeline = ScanPipeline(scanner, decider or world.verifier, indicator, WallClock(assume_trusted=True))
        capture = LatestFrameCapture(FolderReplaySource(folder, fps=fps)).start()
        decisions: list[Decision] = []

        def on_decision(decision: Decision) -> None:
            decisions.append(decision)
            emit(decision_line(decision))

        started = time.monotonic()
        try:
            run_until_stopped(capture, pipeline, threading.Event(), on_decision=on_decision, poll_s=0.2)
        finally:
            capture.stop()
            scanner.close()
            indicator.close()
        emit(
            f"demo: frames={pipeline.stats.frames} decisions={len(decisions)} "
            f"errors={pipeline.stats.errors} seconds={time.monotonic() - started:.1f}"
        )
        return decisions
