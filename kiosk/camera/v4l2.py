"""USB webcams and other V4L2 devices through OpenCV."""

from __future__ import annotations

import cv2

from kiosk.camera.base import GrayImage, SourceError, as_gray


class OpenCvSource:
    """A V4L2 device (index like 0, or a path like /dev/video0) read with OpenCV.

    A failed read means the device went away (unplugged, driver reset): it is reported as
    SourceError so the capture thread closes and reopens it instead of spinning on a dead handle.
    """

    def __init__(self, device: int | str = 0, width: int = 640, height: int = 480, fps: float = 15.0) -> None:
        self.device = device
        self.name = f"v4l2:{device}"
        self._size = (width, height)
        self._fps = fps
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        backend = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
        capture = cv2.VideoCapture(self.device, backend)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open camera {self.device}")
        width, height = self._size
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, self._fps)
        # Keep the driver's queue short: we want the newest frame, not a backlog.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture = capture

    def read(self) -> GrayImage:
        if self._capture is None:
            raise SourceError("camera is not open")
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceError(f"camera {self.device} returned no frame")
        return as_gray(image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
