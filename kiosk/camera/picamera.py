"""The Raspberry Pi camera through picamera2 (libcamera).

picamera2 exists only on Raspberry Pi OS (`apt install python3-picamera2`; the venv uses
--system-site-packages), so it is imported when the source opens, never at module import: every
other part of the kiosk runs and is tested on any Linux machine.

We ask for a low-resolution YUV420 stream and hand over its Y plane as it is: QR decoding needs
luminance only, and skipping a colour conversion saves several milliseconds a frame on a Pi.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiosk.camera.base import GrayImage, SourceError


class Picamera2Source:
    """A CSI camera module: fixed frame rate, continuous autofocus where the module has it."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 15.0, camera_index: int = 0) -> None:
        self.name = f"picamera2:{camera_index}"
        self._size = (width, height)
        self._fps = fps
        self._index = camera_index
        self._camera: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(
                "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` "
                "and create the venv with --system-site-packages"
            ) from exc
        try:
            camera = Picamera2(self._index)
            frame_us = int(1_000_000 / self._fps)
            config = camera.create_video_configuration(
                main={"size": self._size, "format": "YUV420"},
                buffer_count=2,  # few buffers: the newest frame matters, not a queue
                controls={"FrameDurationLimits": (frame_us, frame_us)},
            )
            camera.configure(config)
            if "AfMode" in camera.camera_controls:
                from libcamera import controls

                camera.set_controls({"AfMode": controls.AfModeEnum.Continuous})
            camera.start()
        except Exception as exc:  # libcamera raises RuntimeError, OSError and its own types
            raise SourceError(f"cannot start camera {self._index}: {exc}") from exc
        self._camera = camera

    def read(self) -> GrayImage:
        if self._camera is None:
            raise SourceError("camera is not open")
        try:
            yuv = self._camera.capture_array("main")
        except Exception as exc:  # a camera that disappears surfaces as assorted driver errors
            raise SourceError(f"camera {self._index} capture failed: {exc}") from exc
        width, height = self._size
        return np.ascontiguousarray(y_plane(yuv, width, height))

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
            finally:
                camera.close()


def y_plane(yuv420: np.ndarray, width: int, height: int) -> np.ndarray:
    """The luminance rows of an I420 buffer (height*3/2 rows, stride ≥ width columns)."""
    if yuv420.ndim != 2 or yuv420.shape[0] < height or yuv420.shape[1] < width:
        raise SourceError(f"unexpected YUV420 buffer shape {yuv420.shape} for {width}x{height}")
    return yuv420[:height, :width]
