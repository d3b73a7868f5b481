"""The frame-source interface: the one narrow edge between camera hardware and the kiosk core.

Every source (picamera2, a V4L2 webcam through OpenCV, a replayed file or folder, generated frames)
yields 8-bit grayscale images. QR decoding needs luminance only, so sources hand over the Y plane
or convert once at the edge; nothing downstream ever sees colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

GrayImage = npt.NDArray[np.uint8]


class SourceError(Exception):
    """The source is gone or broken (unplugged, driver error): close it and reopen later."""


class CorruptFrame(SourceError):
    """One frame could not be read, but the source itself is fine: skip it and go on."""


class EndOfStream(Exception):
    """A finite source (a replayed file or folder) has nothing more to give."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A grayscale image with where and when it was captured (monotonic seconds)."""

    gray: GrayImage
    seq: int
    captured_at: float
    source: str


@runtime_checkable
class FrameSource(Protocol):
    """What a camera must do. `read` blocks at most about one frame interval."""

    name: str

    def open(self) -> None:
        """Acquire the device or file. Raises SourceError when it cannot."""

    def read(self) -> GrayImage:
        """Return the next grayscale frame (H×W uint8).

        Raises CorruptFrame for one bad frame, SourceError when the source is lost,
        EndOfStream when a finite source is exhausted.
        """
        ...

    def close(self) -> None:
        """Release the device. Safe to call twice and after a failure."""


def as_gray(image: np.ndarray) -> GrayImage:
    """Convert what a driver gave (gray, BGR, BGRA) to contiguous uint8 grayscale, or raise CorruptFrame."""
    import cv2

    if not isinstance(image, np.ndarray) or image.size == 0:
        raise CorruptFrame("empty frame")
    if image.dtype != np.uint8:
        raise CorruptFrame(f"unexpected pixel type {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)  # uint8 already: no copy
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)  # uint8 already: no copy
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    raise CorruptFrame(f"unexpected frame shape {image.shape}")
