"""Frame sources and the newest-frame capture thread, on generated and recorded frames."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.camera import CaptureState, LatestFrameCapture, SourceError
from kiosk.camera.base import CorruptFrame, EndOfStream, as_gray
from kiosk.camera.config import CameraConfig, open_source
from kiosk.camera.pacing import Pacer
from kiosk.camera.picamera import Picamera2Source, y_plane
from kiosk.camera.replay import FolderReplaySource, GeneratedSource, VideoReplaySource


def numbered_frame(i: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A frame whose top-left pixel carries its index, so tests can tell frames apart."""
    frame = np.zeros(shape, dtype=np.uint8)
    frame[0, 0] = i % 256
    return frame


def drain(capture: LatestFrameCapture, timeout: float = 5.0) -> list[int]:
    got = []
    deadline = time.monotonic() + timeout
    while not capture.finished and time.monotonic() < deadline:
        frame = capture.next_frame(timeout=0.2)
        if frame is not None:
            got.append(int(frame.gray[0, 0]))
    return got


def test_folder_replay_reads_images_in_name_order_and_skips_corrupt_ones(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), numbered_frame(i + 1))
    (tmp_path / "001b.png").write_bytes(b"not an image at all")
    events: list[tuple[str, str]] = []
    capture = LatestFrameCapture(  # 10 fps: the reader takes each frame before the next replaces it,
        FolderReplaySource(tmp_path, fps=10), on_event=lambda k, d: events.append((k, d))
    )  # even on a busy machine (the capture keeps only the newest frame, by design)
    with capture:
        got = drain(capture)
    assert got == [1, 2, 3]
    assert capture.stats.corrupt == 1
    assert ("corrupt", f"cannot read image {tmp_path / '001b.png'}") in events
    assert capture.state is CaptureState.STOPPED
    assert ("ended", capture.source.name) in events


def test_folder_replay_loops_when_asked(tmp_path: Path) -> None:
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), numbered_frame(i + 1))
    source = FolderReplaySource(tmp_path, loop=True)
    source.open()
    assert [int(source.read()[0, 0]) for _ in range(5)] == [1, 2, 1, 2, 1]


def test_video_replay_reads_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(cv2.cvtColor(np.full((48, 64), i * 40, np.uint8), cv2.COLOR_GRAY2BGR))
    writer.release()
    source = VideoReplaySource(path)
    source.open()
    means = [float(source.read().mean()) for _ in range(5)]
    with pytest.raises(EndOfStream):
        source.read()
    source.close()
    assert means == sorted(means) and means[-1] > means[0] + 100


def test_missing_replay_folder_is_a_lost_source_that_recovers_when_it_appears(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    events: list[str] = []
    capture = LatestFrameCapture(
        FolderReplaySource(folder),
        backoff_initial=0.01,
        backoff_max=0.05,
        on_event=lambda k, _d: events.append(k),
    )
    with capture:
        deadline = time.monotonic() + 5
        while capture.state is not CaptureState.LOST and time.monotonic() < deadline:
            time.sleep(0.01)
        assert capture.state is CaptureState.LOST
        folder.mkdir()
        cv2.imwrite(str(folder / "a.png"), numbered_frame(7))
        frame = capture.next_frame(timeout=5)
    assert frame is not None and int(frame.gray[0, 0]) == 7
    assert events[0] == "lost" and "recovered" in events
    assert capture.stats.failures == 1 and capture.stats.reopens == 1


class FlakyCamera:
    """A camera that dies after some frames (unplugged) and fails to reopen a few times."""

    name = "flaky"

    def __init__(self, die_after: int, failed_opens: int) -> None:
        self.frames = 0
        self.opens = 0
        self._die_after = die_after
        self._failed_opens = failed_opens
        self._dead = False

    def open(self) -> None:
        self.opens += 1
        if self._dead and self._failed_opens > 0:
            self._failed_opens -= 1
            raise OSError("no such device")
        self._dead = False

    def read(self) -> np.ndarray:
        if self._dead:
            raise SourceError("read on a dead camera")
        self.frames += 1
        if self.frames == self._die_after:
            self._dead = True
            raise RuntimeError("VIDIOC_DQBUF: No such device")
        time.sleep(0.001)
        return numbered_frame(self.frames)

    def close(self) -> None:
        if self._dead:
            raise OSError("close on a dead handle")  # drivers do this too: must not be fatal


def test_a_camera_that_disappears_is_reported_and_reopened_without_stopping() -> None:
    camera = FlakyCamera(die_after=5, failed_opens=3)
    events: list[str] = []
    capture = LatestFrameCapture(
        camera, backoff_initial=0.01, backoff_max=0.02, on_event=lambda k, _d: events.append(k)
    )
    with capture:
        deadline = time.monotonic() + 5
        while camera.frames < 20 and time.monotonic() < deadline:
            capture.next_frame(timeout=0.1)
        assert capture.state is CaptureState.RUNNING
    assert camera.frames >= 20
    assert events.count("lost") == 1 and events.count("recovered") == 1
    assert capture.stats.failures == 1
    assert camera.opens == 1 + 3 + 1
    assert "no such device" in (capture.stats.last_error or "").lower()


def test_a_slow_consumer_gets_the_newest_frame_and_no_backlog() -> None:
    produced = threading.Event()

    def frame(i: int) -> np.ndarray:
        if i == 30:
            produced.set()
        return numbered_frame(i)

    capture = LatestFrameCapture(GeneratedSource(frame, count=31, fps=None))
    with capture:
        assert produced.wait(5)
        time.sleep(0.05)
        first = capture.next_frame(timeout=1)
        second = capture.next_frame(timeout=0.2)
    assert first is not None and int(first.gray[0, 0]) == 30
    assert second is None  # nothing older is queued behind it
    assert capture.stats.dropped >= 25


def test_stop_returns_promptly_even_while_waiting_for_a_dead_camera() -> None:
    camera = FlakyCamera(die_after=1, failed_opens=10**6)
    capture = LatestFrameCapture(camera, backoff_initial=30, backoff_max=30).start()
    time.sleep(0.05)
    started = time.monotonic()
    capture.stop(timeout=5)
    assert time.monotonic() - started < 4
    assert capture.state is CaptureState.STOPPED


def test_pacer_keeps_an_absolute_schedule() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    pacer = Pacer(10, clock=lambda: now[0], sleep=sleep)
    pacer.wait()  # first frame at once
    now[0] += 0.03  # a slow frame
    pacer.wait()
    pacer.wait()
    assert slept == [0.07, 0.1]


def test_as_gray_converts_colour_and_refuses_garbage() -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255
    assert as_gray(bgr).shape == (4, 4)
    with pytest.raises(CorruptFrame):
        as_gray(np.zeros((4, 4), np.float32))
    with pytest.raises(CorruptFrame):
        as_gray(np.zeros((0,), np.uint8))


def test_picamera2_is_imported_only_when_opened_and_missing_is_a_clear_source_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on any machine that is not a Pi
    source = Picamera2Source(640, 480, 15)
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        source.open()


def test_y_plane_takes_luminance_rows_and_ignores_stride_padding() -> None:
    width, height, stride = 6, 4, 8
    buffer = np.arange(height * 3 // 2 * stride, dtype=np.uint8).reshape(height * 3 // 2, stride)
    y = y_plane(buffer, width, height)
    assert y.shape == (height, width)
    assert (y == buffer[:height, :width]).all()
    with pytest.raises(SourceError):
        y_plane(buffer, 10, 4)


def test_config_builds_the_right_source_and_names_bad_keys(tmp_path: Path) -> None:
    source = open_source(CameraConfig(source="replay", path=str(tmp_path)))
    assert isinstance(source, FolderReplaySource)
    assert isinstance(open_source(CameraConfig(source="picamera2")), Picamera2Source)
    with pytest.raises(ValueError, match=r"camera\.path is required"):
        CameraConfig(source="replay")
    with pytest.raises(ValueError, match="fps"):
        CameraConfig(fps=0)
