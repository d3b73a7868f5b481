"""Frame-loop benchmark: does the learned detector's worker slow the frame loop down?

Plays generated photographs (640x480) into `FrameScanner.scan` at the camera's rate (15 fps, real
time), once with the learned detector off and once on (its defaults: one thread, nice 10, a quarter of
one core on average), and reports the time `scan` took per frame. Hard frames are those zxing-cpp reads
nothing in: each of them is offered to the learned detector. Run it under `taskset -c 0` to see the
one-core case, where the worker and the frame loop share a core.

Last line: scan_loop: p50_off=A p50_on=B p99_off=C p99_on=D learned_runs=N (milliseconds, hard frames)

Usage: python bench/scan_loop.py [--seconds S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import photo_frames
from kiosk.decode import DecodeConfig, FrameScanner, QrDecoder

FPS = 15.0


def play(frames: list[np.ndarray], learned: bool, count: int) -> tuple[list[float], int]:
    """Milliseconds `scan` took for each of `count` frames at camera rate, and the learned runs."""
    scanner = FrameScanner(DecodeConfig(learned_detector=learned))
    times = []
    start = time.monotonic()
    for i in range(count):
        wait = start + i / FPS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        t0 = time.perf_counter()
        scanner.scan(frames[i % len(frames)], time.monotonic())
        times.append((time.perf_counter() - t0) * 1000)
    runs = 0
    if scanner.background is not None:  # count the run still going when the frames stopped, too
        scanner.background.wait_idle(60)
        runs = scanner.background.stats.runs
    scanner.close()
    return times, runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of frames per case")
    args = parser.parse_args()
    decoder = QrDecoder()
    pool = [s.image for s in photo_frames(per_category=2, sizes=("640x480",))]
    hard = [f for f in pool if not decoder.decode(f, recover=False)]
    easy = [f for f in pool if decoder.decode(f, recover=False)]
    count = max(1, int(args.seconds * FPS))
    results = {}
    for name, frames in (
        ("hard", hard),
        ("mixed", [f for pair in zip(hard, easy, strict=False) for f in pair]),
    ):
        for learned in (False, True):
            times, runs = play(frames, learned, count)
            results[name, learned] = (times, runs)
            print(
                f"{name:<6} learned={'on ' if learned else 'off'} scan p50={np.percentile(times, 50):.1f}ms "
                f"p99={np.percentile(times, 99):.1f}ms learned runs={runs} ({len(frames)} distinct frames)"
            )
    (off, _), (on, runs) = results["hard", False], results["hard", True]
    print(
        f"scan_loop: p50_off={np.percentile(off, 50):.1f} p50_on={np.percentile(on, 50):.1f} "
        f"p99_off={np.percentile(off, 99):.1f} p99_on={np.percentile(on, 99):.1f} learned_runs={runs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
