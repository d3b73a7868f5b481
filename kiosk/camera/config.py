"""The `[camera]` section of the kiosk config, and the one place that turns it into a source."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiosk.camera.base import FrameSource


class CameraConfig(BaseModel):
    """Which camera, at what size and rate.

    Small frames decode faster; 640×480 reads a phone held at arm's length.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["picamera2", "v4l2", "replay"] = "picamera2"
    device: int | str = Field(0, description="v4l2: device index or path such as /dev/video0")
    path: str | None = Field(None, description="replay: a folder of images or a video file")
    width: int = Field(640, ge=160, le=4096)
    height: int = Field(480, ge=120, le=4096)
    fps: float = Field(15.0, gt=0, le=120)
    realtime: bool = Field(True, description="replay: pace at fps (true) or as fast as possible (false)")
    loop: bool = Field(False, description="replay: start again at the end")
    camera_index: int = Field(0, ge=0, description="picamera2: which camera module")

    @model_validator(mode="after")
    def _replay_needs_path(self) -> CameraConfig:
        if self.source == "replay" and not self.path:
            raise ValueError("camera.path is required when camera.source is 'replay'")
        return self


def open_source(config: CameraConfig) -> FrameSource:
    """Build the configured source. Hardware modules are imported only when chosen."""
    if config.source == "picamera2":
        from kiosk.camera.picamera import Picamera2Source

        return Picamera2Source(config.width, config.height, config.fps, config.camera_index)
    if config.source == "v4l2":
        from kiosk.camera.v4l2 import OpenCvSource

        return OpenCvSource(config.device, config.width, config.height, config.fps)
    from kiosk.camera.replay import replay_source

    assert config.path is not None  # guaranteed by the validator
    return replay_source(config.path, fps=config.fps if config.realtime else None, loop=config.loop)
