"""The `[indicator]` section: pins, polarity and hold times of the lights, buzzer and gate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class IndicatorConfig(BaseModel):
    """BCM pin numbers. `None` leaves a part out (a kiosk without buzzer or gate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    green_pin: int = Field(17, ge=0, le=27)
    red_pin: int = Field(27, ge=0, le=27)
    amber_pin: int = Field(22, ge=0, le=27)
    buzzer_pin: int | None = Field(23, ge=0, le=27)
    gate_pin: int | None = Field(None, ge=0, le=27)
    lights_active_high: bool = True
    buzzer_active_high: bool = True
    gate_active_high: bool = Field(
        True,
        description="keep true and wire the relay so that a released (floating, pulled-down) pin is locked",
    )
    hold_s: float = Field(3.0, gt=0, le=60, description="how long a verdict stays lit")
    gate_open_s: float = Field(4.0, gt=0, le=30, description="how long the gate stays open after a PASS")
    buzzer_enabled: bool = True

    @model_validator(mode="after")
    def _pins_distinct(self) -> IndicatorConfig:
        pins = [self.green_pin, self.red_pin, self.amber_pin, self.buzzer_pin, self.gate_pin]
        used = [p for p in pins if p is not None]
        if len(used) != len(set(used)):
            raise ValueError(f"indicator pins must be distinct, got {used}")
        return self
