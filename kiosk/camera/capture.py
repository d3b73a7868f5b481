"""Capture in its own thread, keeping only the newest frame.

A decode that takes longer than a frame interval must never build a backlog: the light has to
answer what is in front of the camera now, not what was there a second ago. So the capture
thread overwrites a single slot, and the consumer takes whatever is newest when it is ready.

A camera that disappears (USB unplugged, ribbon loose, driver reset) is reported and reopened with
a bounded back-off; the kiosk keeps running and says so in its status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from kiosk.camera.base import CorruptFrame, EndOfStream, Frame, FrameSource, GrayImage, SourceError

log = logging.getLogger(__name__)


class CaptureState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    LOST = "lost"  # the source failed; reopening
    ENDED = "ended"  # a finite source is exhausted
    STOPPED = "stopped"


@dataclass
class CaptureStats:
    """Counters for the status message and for tests."""

    frames: int = 0
    dropped: int = 0  # overwritten before anyone took them
    corrupt: int = 0
    failures: int = 0  # times the source was lost
    reopens: int = 0  # successful opens after a loss
    last_error: str | None = None


SourceEvent = Callable[[str, str], None]
"""Called as on_event(kind, detail) with kind in {"lost", "recovered", "corrupt", "ended"}."""


class LatestFrameCapture:
    """Runs a FrameSource in a daemon thread and exposes only the newest frame."""

    def __init__(
        self,
        source: FrameSource,
        *,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        on_event: SourceEvent | None = None,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self._beat = heartbeat or (lambda: None)  # once per pass, camera or not (see common/liveness.py)
        self.stats = CaptureStats()
        self.state = CaptureState.STARTING
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._on_event = on_event
        self._clock = clock
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._taken_seq = -1
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- consumer side -------------------------------------------------------------------------

    def start(self) -> LatestFrameCapture:
        self._thread = threading.Thread(target=self._run, name=f"capture[{self.source.name}]", daemon=True)
        self._thread.start()
        return self

    def next_frame(self, timeout: float) -> Frame | None:
        """The newest frame not yet returned, waiting at most `timeout` s; None if none came."""
        deadline = self._clock() + timeout
        with self._cond:
            while True:
                latest = self._latest
                if latest is not None and latest.seq > self._taken_seq:
                    self._taken_seq = latest.seq
                    return latest
                if self.state in (CaptureState.ENDED, CaptureState.STOPPED):
                    return None
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    @property
    def finished(self) -> bool:
        """True once a finite source ended (or stop() was called) and its last frame was taken."""
        with self._cond:
            drained = self._latest is None or self._latest.seq <= self._taken_seq
            return self.state in (CaptureState.ENDED, CaptureState.STOPPED) and drained

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state(CaptureState.STOPPED)

    def __enter__(self) -> LatestFrameCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- capture thread ------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._backoff_initial
        opened = False
        lost = False
        try:
            while not self._stop.is_set():
                self._beat()
                if not opened:
                    try:
                        self.source.open()
                    except Exception as exc:  # any driver failure is a lost source, never fatal
                        lost = self._report_lost(exc, lost)
                        self._stop.wait(backoff)
                        backoff = min(backoff * 2, self._backoff_max)
                        continue
                    opened = True
                    if lost:
                        lost = False
                        self.stats.reopens += 1
                        self._emit("recovered", self.source.name)
                        log.info("camera %s recovered", self.source.name)
                    self._set_state(CaptureState.RUNNING)
                try:
                    image = self.source.read()
                except EndOfStream:
                    self._emit("ended", self.source.name)
                    self._set_state(CaptureState.ENDED)
                    return
                except CorruptFrame as exc:
                    self.stats.corrupt += 1
                    self.stats.last_error = str(exc)
                    log.warning("corrupt frame from %s: %s", self.source.name, exc)
                    self._emit("corrupt", str(exc))
                    continue
                except Exception as exc:  # SourceError or anything a driver throws
                    lost = self._report_lost(exc, lost)
                    self._close_quietly()
                    opened = False
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._backoff_max)
                    continue
                backoff = self._backoff_initial
                self._publish(image)
        finally:
            self._close_quietly()

    def _publish(self, image: GrayImage) -> None:
        with self._cond:
            if self._latest is not None and self._latest.seq > self._taken_seq:
                self.stats.dropped += 1
            self._seq += 1
            self._latest = Frame(
                gray=image, seq=self._seq, captured_at=self._clock(), source=self.source.name
            )
            self.stats.frames += 1
            self._cond.notify_all()

    def _report_lost(self, exc: BaseException, already_lost: bool) -> bool:
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self._set_state(CaptureState.LOST)
        if not already_lost:
            self.stats.failures += 1
            log.error("camera %s lost: %s (reopening)", self.source.name, exc)
            self._emit("lost", self.stats.last_error)
        return True

    def _close_quietly(self) -> None:
        try:
            self.source.close()
        except Exception as exc:  # closing a dead device may fail too; we reopen it anyway
            log.debug("closing %s failed: %s", self.source.name, exc)

    def _set_state(self, state: CaptureState) -> None:
        with self._cond:
            self.state = state
            self._cond.notify_all()

    def _emit(self, kind: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event(kind, detail)


__all__ = ["CaptureState", "CaptureStats", "LatestFrameCapture", "SourceError"]
