"""The verdict made visible and audible: lights, buzzer and gate relay (gpiozero)."""

from kiosk.display.config import IndicatorConfig
from kiosk.display.indicator import Indicator, force_gate_closed

__all__ = ["Indicator", "IndicatorConfig", "force_gate_closed"]
