"""Runs a slow reader (the learned detector) beside the frame loop, never in its way.

The frame loop offers a frame and goes on at once: the offer hands a copy of the frame to a single
worker thread when that worker is idle and the duty cycle allows, and otherwise drops it (a newer frame
of the same person comes 66 ms later; a backlog of old frames would only add latency). Codes the
worker reads are picked up by the frame loop on a later frame (`collect`). So the frame loop's time per
frame does not depend on the reader's speed at all, on any machine.

Two limits keep the worker from starving the frame loop of CPU, which matters on a one-core budget:
- the duty cycle: after a run that took `t` seconds, the next may start `t / max_duty` seconds after
  this one started, so on average the worker uses at most `max_duty` of one core, whatever a run
  costs on this machine (a Pi 4 simply runs it less often);
- the worker thread lowers its own scheduling priority (nice), so when both want the same core the
  frame loop wins.

The worker is a one-thread `concurrent.futures` executor: its shutdown at interpreter exit is handled
by the standard library (a bare daemon thread would be torn down inside OpenCV at exit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np

from kiosk.decode.decoder import DecodedCode
from kiosk.decode.learned import LearnedReader

log = logging.getLogger(__name__)


@dataclass
class BackgroundStats:
    offered: int = 0
    runs: int = 0
    dropped_busy: int = 0  # offered while a run was going on
    dropped_rate: int = 0  # offered before the duty cycle allowed the next run
    errors: int = 0
    codes: int = 0
    run_ms: float = 0.0  # moving average of one run's time on this machine
    last_ms: float = 0.0


def _lower_priority(nice: int) -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: priority stays
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class BackgroundReader:
    def __init__(
        self,
        reader: LearnedReader,
        max_duty: float = 0.25,
        nice: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < max_duty <= 1:
            raise ValueError(f"max_duty must be in (0, 1], got {max_duty}")
        self.reader = reader
        self.max_duty = max_duty
        self._clock = clock
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="learned-qr", initializer=_lower_priority, initargs=(nice,)
        )
        self._future: Future[None] | None = None
        self._next_start = float("-inf")
        self._results: list[DecodedCode] = []
        self.stats = BackgroundStats()

    def offer(self, gray: np.ndarray) -> bool:
        """Hand a frame over if the worker can take it now; never waits. True if it was taken."""
        with self._lock:
            self.stats.offered += 1
            if self._future is not None and not self._future.done():
                self.stats.dropped_busy += 1
                return False
            if self._clock() < self._next_start:
                self.stats.dropped_rate += 1
                return False
            # A copy: the camera may reuse its buffer while the worker reads.
            self._future = self._executor.submit(self._run, gray.copy())
            return True

    def collect(self) -> list[DecodedCode]:
        """Codes read since the last call (from frames offered earlier)."""
        if not self._results:  # the usual frame: no lock (a code landing right now comes next frame)
            return []
        with self._lock:
            out, self._results = self._results, []
            return out

    @property
    def busy(self) -> bool:
        future = self._future
        return future is not None and not future.done()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the frame being read is done (files, benchmarks, tests; never the frame loop)."""
        future = self._future
        if future is None:
            return True
        try:
            future.result(timeout)
        except FutureTimeout:
            return False
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, frame: np.ndarray) -> None:
        start = self._clock()
        codes: list[DecodedCode] = []
        try:
            codes = self.reader.read(frame)
        except Exception:  # a broken model must not kill the kiosk: zxing-cpp still reads
            log.exception("learned QR reader failed")
            with self._lock:
                self.stats.errors += 1
        took = self._clock() - start
        with self._lock:
            self.stats.runs += 1
            self.stats.codes += len(codes)
            ms = self.stats.last_ms = took * 1000
            self.stats.run_ms = (
                ms if self.stats.runs == 1 else self.stats.run_ms + 0.2 * (ms - self.stats.run_ms)
            )
            self._next_start = start + took / self.max_duty
            self._results += codes
