"""Replay sources: a folder of images, a video file, or frames generated in memory.

They stand in for the camera in the demo, the tests and the benchmarks, paced at a given frame
rate or as fast as possible, and behave like a real camera on failure (a missing folder is a lost
source; an unreadable image is one corrupt frame, not the end of the kiosk).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from kiosk.camera.base import CorruptFrame, EndOfStream, GrayImage, SourceError, as_gray
from kiosk.camera.pacing import Pacer

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".pgm", ".tif", ".tiff"})


class FolderReplaySource:
    """Images of a folder in name order, optionally looped."""

    def __init__(self, folder: str | Path, fps: float | None = None, loop: bool = False) -> None:
        self.folder = Path(folder)
        self.name = f"replay:{self.folder}"
        self._fps = fps
        self._loop = loop
        self._files: list[Path] = []
        self._index = 0
        self._pacer = Pacer(fps)

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"replay folder {self.folder} does not exist")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise SourceError(f"replay folder {self.folder} holds no images")
        self._index = 0
        self._pacer = Pacer(self._fps)

    def read(self) -> GrayImage:
        if self._index >= len(self._files):
            if not self._loop:
                raise EndOfStream(self.name)
            self._index = 0
        path = self._files[self._index]
        self._index += 1
        self._pacer.wait()
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            if not path.exists():
                raise SourceError(f"replay image {path} disappeared")
            raise CorruptFrame(f"cannot read image {path}")
        return as_gray(image)

    def close(self) -> None:
        self._files = []


class VideoReplaySource:
    """A video file decoded by OpenCV (FFmpeg backend), optionally looped."""

    def __init__(self, path: str | Path, fps: float | None = None, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = f"video:{self.path}"
        self._fps = fps
        self._loop = loop
        self._capture: cv2.VideoCapture | None = None
        self._pacer = Pacer(fps)

    def open(self) -> None:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open video {self.path}")
        self._capture = capture
        self._pacer = Pacer(self._fps)

    def read(self) -> GrayImage:
        if self._capture is None:
            raise SourceError("video source is not open")
        ok, image = self._capture.read()
        if not ok and self._loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        if not ok:
            raise EndOfStream(self.name)
        self._pacer.wait()
        return as_gray(image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class GeneratedSource:
    """Frames made in memory (a list, or a function of the frame index): tests and benchmarks."""

    def __init__(
        self,
        frames: Sequence[np.ndarray] | Callable[[int], np.ndarray],
        fps: float | None = None,
        count: int | None = None,
        name: str = "generated",
    ) -> None:
        self.name = name
        self._frames = frames
        self._count = count if count is not None else (None if callable(frames) else len(frames))
        self._fps = fps
        self._index = 0
        self._pacer = Pacer(fps)

    def open(self) -> None:
        self._index = 0
        self._pacer = Pacer(self._fps)

    def read(self) -> GrayImage:
        if self._count is not None and self._index >= self._count:
            raise EndOfStream(self.name)
        i = self._index
        self._index += 1
        self._pacer.wait()
        frame = self._frames(i) if callable(self._frames) else self._frames[i]
        return as_gray(frame)

    def close(self) -> None:
        """Nothing to release."""


def replay_source(
    path: str | Path, fps: float | None = None, loop: bool = False
) -> FolderReplaySource | VideoReplaySource:
    """A folder (or a suffix-less path, which may be a folder not mounted yet) replays images;
    anything else is tried as a video file."""
    p = Path(path)
    if p.is_dir() or not p.suffix:
        return FolderReplaySource(p, fps=fps, loop=loop)
    return VideoReplaySource(p, fps=fps, loop=loop)
