"""The officer's physical buttons at an assisted checkpoint: confirm, let pass, stop (gpiozero).

Gloved hands at a roadside in the rain press a button faster than they tap a screen. Each button does
exactly what its twin on the screen does (kiosk/officer_desk.py, the one officer-action path); the
officer is the one who last identified on the screen during this shift, or the configured officer on duty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero import Button
from pydantic import BaseModel, ConfigDict, Field

OfficerAction = Callable[[dict[str, Any]], None]


class ButtonsConfig(BaseModel):
    """BCM pins of the officer's buttons (wired to ground; internal pull-ups). `None`: no such button."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confirm_pin: int | None = Field(None, ge=0, le=27)
    pass_pin: int | None = Field(None, ge=0, le=27, description="override: let pass")
    deny_pin: int | None = Field(None, ge=0, le=27, description="override: stop")
    officer_id: str | None = Field(
        None, max_length=64, description="officer on duty when nobody has identified on the screen yet"
    )
    bounce_s: float = Field(0.05, gt=0, le=1)


ACTIONS: dict[str, dict[str, Any]] = {
    "confirm_pin": {"action": "confirm"},
    "pass_pin": {"action": "override", "verdict": "PASS"},
    "deny_pin": {"action": "override", "verdict": "DENY"},
}


class OfficerButtons:
    def __init__(self, config: ButtonsConfig, on_action: OfficerAction, pin_factory: Any = None) -> None:
        self._buttons: list[Button] = []
        for field, body in ACTIONS.items():
            pin = getattr(config, field)
            if pin is None:
                continue
            button = Button(pin, pull_up=True, bounce_time=config.bounce_s, pin_factory=pin_factory)
            button.when_pressed = self._press(on_action, body)
            self._buttons.append(button)

    @staticmethod
    def _press(on_action: OfficerAction, body: dict[str, Any]) -> Callable[[], None]:
        def pressed() -> None:  # no parameter: gpiozero then calls it without the device
            on_action(dict(body))

        return pressed

    def close(self) -> None:
        for button in self._buttons:
            button.close()
        self._buttons.clear()
