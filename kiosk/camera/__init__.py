"""Frame sources behind one small interface, and a capture thread that keeps the newest frame."""

from kiosk.camera.base import CorruptFrame, EndOfStream, Frame, FrameSource, SourceError
from kiosk.camera.capture import CaptureState, LatestFrameCapture

__all__ = [
    "CaptureState",
    "CorruptFrame",
    "EndOfStream",
    "Frame",
    "FrameSource",
    "LatestFrameCapture",
    "SourceError",
]
