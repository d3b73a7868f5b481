"""Screen benchmark: how soon the kiosk's page learns a verdict, against the light and the frame budget.

The pipeline sets the light and hands the verdict to the screen state in the same step; the page holds a
long poll (`GET /api/state?since=N`) open, so the answer leaves as soon as the state changes. Measured
here over real HTTP on loopback: from `ScreenState.show()` to the long-poll response fully read by a
client (the browser's render is one more display frame, about 16 ms, not counted). Baseline in the same
run: the light itself, `Indicator.show()` on gpiozero mock pins; and the frame budget at the camera's rate.

Last line: `screen: p50_ms=... p99_ms=... light_p99_ms=... budget_ms=... p99_over_budget=...`

Usage: python bench/screen.py [--verdicts 300] [--fps 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.trust import TrustStore
from kiosk.display import Indicator, IndicatorConfig
from kiosk.screen.server import ScreenServer
from kiosk.screen.state import ScreenState
from kiosk.verify.flags import FlagStore
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verifier import Verifier

CCCD = b"001099012345|123456789|Nguyen Van An|01011999|Nam|Thon 1, Xa A|15082021"


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=300)
    parser.add_argument("--fps", type=float, default=15.0)
    args = parser.parse_args()
    verdict = Verifier(TrustStore(), FlagStore(), PolicyConfig(identity_only="PASS")).verify(
        CCCD, datetime.now(UTC)
    )
    indicator = Indicator(
        IndicatorConfig(gate_pin=24, hold_s=0.01), pin_factory=MockFactory(pin_class=MockPWMPin)
    )
    state = ScreenState(hold_s=60, assisted=False)
    server = ScreenServer(state, port=0).start()
    received: dict[int, float] = {}
    done = threading.Event()

    def page() -> None:  # what app.js does: poll, render, poll again
        version = state.snapshot()["version"]
        while not done.is_set():
            with urllib.request.urlopen(f"{server.url}api/state?since={version}", timeout=30) as resp:
                body = json.loads(resp.read())
            received[body["version"]] = time.perf_counter()
            version = body["version"]

    poller = threading.Thread(target=page, daemon=True)
    poller.start()
    time.sleep(0.3)
    screen_ms: list[float] = []
    light_ms: list[float] = []
    try:
        for i in range(args.verdicts):
            t0 = time.perf_counter()
            indicator.show(verdict.outcome)
            light_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            state.show(verdict, f"event-{i}")
            version = state.snapshot()["version"]
            deadline = time.monotonic() + 10
            while version not in received:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the page never saw verdict {i}")
                time.sleep(0.0002)
            screen_ms.append((received[version] - t0) * 1000)
            time.sleep(0.01)  # verdicts come at most a few per second in real life
    finally:
        done.set()
        state.show(verdict, "last")  # releases the poller's open request
        server.stop()
        indicator.close()
    budget = 1000 / args.fps
    p50, p99 = percentile(screen_ms, 50), percentile(screen_ms, 99)
    print(f"page learns the verdict: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(screen_ms):.2f} ms")
    print(f"light (Indicator.show on mock pins): p99 {percentile(light_ms, 99):.3f} ms")
    print(f"frame budget at {args.fps:g} fps: {budget:.1f} ms")
    print(
        f"screen: p50_ms={p50:.2f} p99_ms={p99:.2f} light_p99_ms={percentile(light_ms, 99):.3f} "
        f"budget_ms={budget:.1f} p99_over_budget={p99 / budget:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
