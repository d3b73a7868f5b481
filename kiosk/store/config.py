"""The `[store]` section: where the kiosk keeps its record, and how much of it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: str = Field("kiosk.db", description="inside kiosk.state_dir")
    retention_days: float = Field(7.0, gt=0, le=3650, description="delivered passages are purged after this")
    size_cap_mb: float = Field(512.0, gt=1, description="past this, delivered passages are purged early")
    memory_spill_max: int = Field(
        100_000, ge=100, description="passages held in memory while the disk refuses writes (full, read-only)"
    )
