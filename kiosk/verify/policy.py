"""Per-checkpoint policy: data (the `[policy]` section of the kiosk's TOML config), not code.

Validated once at start (unknown keys refused, errors name the key), then passed to the
verifier as a frozen object. Safety rules are enforced by the model itself: F0 and revoked
people always DENY, and an untrusted clock can never earn a PASS.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiosk.verify.verdict import Outcome

Kind = Literal["cccd", "pccovid", "hc1", "pass"]
OutcomeName = Literal["PASS", "REVIEW", "DENY"]


class PolicyConfig(BaseModel):
    """What a checkpoint accepts and how strictly. Defaults suit a cautious road checkpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accepted_kinds: frozenset[Kind] = frozenset({"cccd", "pccovid", "hc1", "pass"})
    identity_only: OutcomeName = Field("REVIEW", description="bare CCCD / PC-Covid: PASS at a supermarket")
    masked_id: Literal["REVIEW", "DENY"] = Field(
        "REVIEW", description="PC-Covid id masked: flags uncheckable"
    )
    flag_f1: OutcomeName = "DENY"
    flag_f2: OutcomeName = "REVIEW"
    clock_skew_s: int = Field(300, ge=0, le=86400)
    untrusted_clock: Literal["REVIEW", "DENY"] = "REVIEW"  # never PASS: an expired pass must not slip by
    # A pass scoped to zones is refused (out_of_zone) at a checkpoint whose zone is not listed,
    # including a checkpoint with no zone configured: scope restricts, it never widens.
    zone: str | None = Field(None, description="this checkpoint's zone, matched against scoped passes")
    utc_offset_minutes: int = Field(420, ge=-720, le=840, description="local time for pass time windows")
    hc1_types: frozenset[Literal["v", "t", "r"]] = frozenset({"v", "t", "r"})
    # The country whose Acceptance health rules this checkpoint applies (EU rule format `Country`).
    country: str = Field("VN", pattern=r"^[A-Z]{2}$", description="checkpoint country for health rules")

    @field_validator("zone")
    @classmethod
    def _zone_nonempty(cls, v: str | None) -> str | None:
        if v is not None and not (0 < len(v) <= 32):
            raise ValueError("zone must be 1..32 characters")
        return v

    def outcome_for_flag(self, status_name: str) -> Outcome:
        """F0 and REVOKED always deny; F1/F2 as configured."""
        if status_name == "F1":
            return Outcome(self.flag_f1)
        if status_name == "F2":
            return Outcome(self.flag_f2)
        return Outcome.DENY

    def local_minute(self, now: dt.datetime) -> int:
        local = now.astimezone(dt.timezone(dt.timedelta(minutes=self.utc_offset_minutes)))
        return local.hour * 60 + local.minute


def load_policy(path: Path) -> PolicyConfig:
    """Read a TOML file: either a bare policy table or a full config with a [policy] section."""
    with path.open("rb") as f:
        doc = tomllib.load(f)
    section = doc.get("policy", doc)
    return PolicyConfig.model_validate(section)


def in_window(minute: int, windows: tuple[tuple[int, int], ...]) -> bool:
    """Minute of day inside any [from, to) window; from > to crosses midnight."""
    for start, end in windows:
        if start < end and start <= minute < end:
            return True
        if start > end and (minute >= start or minute < end):
            return True
    return False
