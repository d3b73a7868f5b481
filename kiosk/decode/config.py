"""The `[decode]` section: time budget, dedupe window, motion gate and the learned detector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DecodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    frame_budget_ms: float = Field(
        80.0,
        gt=0,
        le=2000,
        description="time the recovery strategies may spend on one frame after the first pass",
    )
    dedupe_window_s: float = Field(
        3.0,
        ge=0,
        le=600,
        description="a code seen again within this time of its last sighting is the same passage",
    )
    motion_gate: bool = Field(True, description="skip decoding frames of a static scene that held no code")
    motion_pixel_delta: int = Field(
        25,
        ge=1,
        le=255,
        description="grey-level change of one thumbnail pixel that is more than sensor noise",
    )
    motion_fraction: float = Field(
        0.01,
        gt=0,
        le=1,
        description="share of thumbnail pixels that must change for the scene to count as moved",
    )
    motion_max_skip_s: float = Field(
        1.0, gt=0, le=60, description="decode at least this often even when nothing seems to move"
    )
    retry_regions: int = Field(
        4, ge=0, le=32, description="at most this many failed symbols are retried per frame"
    )
    learned_detector: bool = Field(
        True,
        description="read frames zxing-cpp could not with WeChat's CNN QR detector, on a worker thread",
    )
    learned_max_duty: float = Field(
        0.25,
        gt=0,
        le=1,
        description="share of one core the learned detector may use on average (it runs less often on a "
        "slower machine)",
    )
    learned_threads: int = Field(1, ge=1, le=8, description="OpenCV threads the learned detector may use")
