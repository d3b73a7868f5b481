"""The officer's physical buttons (gpiozero mock pins) do what the screen's buttons do, as the officer on
duty: nothing without an officer, confirm, let pass, stop; each press a recorded passage."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.camera.replay import GeneratedSource
from kiosk.config import KioskConfig
from kiosk.pipeline import Decision
from kiosk.service import KioskService
from kiosk.simulate import background, phone_scene
from kiosk.store import KioskStore
from testkit.linkrig import wait_for
from tests.kiosk.screen.test_screen_http import get, post

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
PINS = {"confirm_pin": 5, "pass_pin": 6, "deny_pin": 13}


def press(pins: MockFactory, number: int) -> None:
    pin = pins.pin(number)
    pin.drive_low()  # wired to ground: pressed
    pin.drive_high()


def test_physical_buttons_confirm_and_override_as_the_officer_on_duty(tmp_path: Path) -> None:
    config = KioskConfig.model_validate(
        {
            "kiosk": {"kiosk_id": "road-1", "checkpoint_id": "ql1a-km12", "mode": "assisted",
                      "state_dir": str(tmp_path), "assume_clock_trusted": True},
            "indicator": {"hold_s": 30},
            "buttons": {**PINS, "bounce_s": 0.001},
            "screen": {"port": 0},
        }
    )  # fmt: skip
    # The card, then an empty scene until the test ends (a finite source ends the service early).
    scenes, empty = [phone_scene(CCCD, seed=i) for i in range(3)], background(640, 480)
    decisions: list[Decision] = []
    pins = MockFactory(pin_class=MockPWMPin)
    source = GeneratedSource(lambda i: scenes[i] if i < len(scenes) else empty, fps=30)
    service = KioskService(config, source=source, pin_factory=pins, on_decision=decisions.append)
    store = KioskStore(tmp_path / "kiosk.db")
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        wait_for(lambda: bool(decisions), 30, "the scan")
        press(pins, PINS["confirm_pin"])  # nobody has identified yet: nothing is recorded
        assert len(store.passages()) == 1
        assert service.screen is not None
        shown = json.loads(get(service.screen.url + "api/state")[1])["current"]
        confirm = {"officer_id": "CB-042", "action": "confirm", "event_id": shown["event_id"]}
        code, _ = post(service.screen.url + "api/officer", confirm)
        assert code == 200
        press(pins, PINS["pass_pin"])
        wait_for(lambda: len(store.passages()) == 3, 30, "the let-pass button's passage")
        press(pins, PINS["deny_pin"])
        wait_for(lambda: len(store.passages()) == 4, 30, "the stop button's passage")
        press(pins, PINS["confirm_pin"])
        wait_for(lambda: len(store.passages()) == 5, 30, "the confirm button's passage")
    finally:
        service.stop_event.set()
        thread.join(30)
    assert [(e.verdict, e.officer_id, e.override) for e in store.passages()] == [
        ("REVIEW", None, None),
        ("REVIEW", "CB-042", False),
        ("PASS", "CB-042", True),
        ("DENY", "CB-042", True),
        ("REVIEW", "CB-042", False),
    ]


def test_button_pins_may_not_share_the_indicators() -> None:
    with pytest.raises(ValueError, match="button pins"):
        KioskConfig.model_validate(
            {"kiosk": {"kiosk_id": "k", "checkpoint_id": "c"}, "buttons": {"confirm_pin": 17}}
        )
