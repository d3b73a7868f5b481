"""The doctor's vocabulary (a check's level and result, running checks with timeouts, the status summary)
and the judgements shared by `kiosk doctor` (kiosk/doctor/probes.py) and the running service
(kiosk/doctor/live.py), so both say the same thing about the same state."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from kiosk.clock import ClockReading

DEFAULT_TIMEOUT_S = 10.0
FAIL_FREE_BYTES = 16 << 20  # below this the store will soon refuse passages
WARN_FREE_BYTES = 256 << 20
WARN_FREE_FRACTION = 0.05
PROBE_BYTES = 64 << 10  # the write probe: enough to need fresh blocks, small enough for an SD card
MIN_RATE_FRACTION = 0.8  # a camera slower than this share of its configured rate is worth a WARN


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    level: Level
    detail: str

    def line(self) -> str:
        return f"{self.level.value:<4}  {self.name:<7} {self.detail}"


Outcome = tuple[Level, str]
Check = Callable[[], Outcome]


def run_checks(
    checks: Sequence[tuple[str, Check]], timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[CheckResult]:
    """Run every check at once, each in its own daemon thread; one that does not answer within
    `timeout_s` FAILs (its thread is abandoned, the process can still exit), one that raises FAILs
    with the exception. Results come back in the order given."""
    outcomes: dict[str, Outcome] = {}
    threads: list[tuple[str, threading.Thread]] = []

    def run(name: str, check: Check) -> None:
        try:
            outcomes[name] = check()
        except Exception as exc:
            outcomes[name] = (Level.FAIL, f"{type(exc).__name__}: {exc}")

    for name, check in checks:
        thread = threading.Thread(target=run, args=(name, check), name=f"doctor-{name}", daemon=True)
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + timeout_s
    results = []
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        level, detail = outcomes.get(name, (Level.FAIL, f"no answer within {timeout_s:g} s"))
        results.append(CheckResult(name, level, detail))
    return results


def worst(results: Sequence[CheckResult]) -> Level:
    levels = {r.level for r in results}
    return Level.FAIL if Level.FAIL in levels else Level.WARN if Level.WARN in levels else Level.OK


def summary(results: Sequence[CheckResult]) -> dict[str, Any]:
    """The compact form the kiosk's retained status carries: each check's level, details of the others."""
    return {
        "worst": worst(results).value,
        "levels": {r.name: r.level.value for r in results},
        # Cut to what a fleet view shows: wire/status.py refuses a status with a line over 500 characters.
        "problems": [f"{r.name}: {r.detail}"[:300] for r in results if r.level != Level.OK],
    }


def judge_clock(reading: ClockReading) -> Outcome:
    when = reading.now.isoformat(timespec="seconds")
    floor = f", floor {reading.floor.isoformat(timespec='seconds')}" if reading.floor else ""
    if reading.trusted:
        return Level.OK, f"trusted ({reading.reason}), {when}{floor}"
    if reading.reason in ("before_software_epoch", "behind_floor"):
        return Level.FAIL, f"wrong: {reading.reason}, deciding with {when}{floor}: set the time or fix NTP"
    return Level.WARN, f"not trusted ({reading.reason}), {when}{floor}: time-bound codes get amber"


def judge_disk(path: Path, probe: bool) -> Outcome:
    """Free space on the state directory's file system; with `probe`, a real write and fsync too (a full
    disk or an SD card gone read-only refuses it)."""
    if not path.is_dir():  # a kiosk never started: `kiosk run` creates it; judge where it will be
        parent = next((p for p in path.parents if p.is_dir()), None)
        if parent is None or path.exists():
            return Level.FAIL, f"state directory {path} is not a directory"
        level, detail = judge_disk(parent, probe)
        return max(
            level, Level.WARN, key=list(Level).index
        ), f"{path} not created yet (first start); {detail}"
    usage = shutil.disk_usage(path)
    free_mb = usage.free / (1 << 20)
    where = f"{free_mb:.0f} MiB free of {usage.total / (1 << 20):.0f} MiB on {path}"
    if probe:
        target = path / f".doctor-probe-{os.getpid()}"
        try:
            with target.open("wb") as f:
                f.write(os.urandom(PROBE_BYTES))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            return Level.FAIL, f"cannot write to {path}: {exc.strerror or exc}; {where}"
        finally:
            with contextlib.suppress(OSError):
                target.unlink()
    if usage.free < FAIL_FREE_BYTES:
        return Level.FAIL, f"disk full: {where}"
    if usage.free < WARN_FREE_BYTES or usage.free < usage.total * WARN_FREE_FRACTION:
        return Level.WARN, f"disk low: {where}"
    return Level.OK, where


def judge_camera_rate(frames: int, elapsed_s: float, fps: float) -> Outcome:
    if frames == 0:
        return Level.FAIL, f"opened but delivered no frame in {elapsed_s:.1f} s"
    rate = frames / max(elapsed_s, 1e-6)
    detail = f"{frames} frames in {elapsed_s:.1f} s ({rate:.1f}/s, configured {fps:g}/s)"
    if rate < fps * MIN_RATE_FRACTION:
        return Level.WARN, f"slow: {detail}"
    return Level.OK, detail
