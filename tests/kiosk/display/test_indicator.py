"""The indicator on gpiozero mock pins: sequences, timings, and a gate that fails closed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.display import Indicator, IndicatorConfig, force_gate_closed
from kiosk.display.patterns import PATTERNS
from kiosk.verify.verdict import Outcome
from tests.conftest import REPO_ROOT

GREEN, RED, AMBER, BUZZER, GATE = 17, 27, 22, 23, 24


def config(**overrides: object) -> IndicatorConfig:
    base: dict[str, object] = {"gate_pin": GATE, "hold_s": 0.5, "gate_open_s": 0.3}
    base.update(overrides)
    return IndicatorConfig.model_validate(base)


def wait_until(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def pin_on_durations(pin) -> list[float]:
    """Seconds each high period lasted, from the mock pin's recorded state changes."""
    durations, t, on_since = [], 0.0, None
    for change in pin.states:
        t += change.timestamp
        if change.state and on_since is None:
            on_since = t
        elif not change.state and on_since is not None:
            durations.append(t - on_since)
            on_since = None
    return durations


def test_gate_is_closed_at_boot(mock_pins: MockFactory) -> None:
    with Indicator(config()) as indicator:
        assert mock_pins.pin(GATE).state == 0
        assert not indicator.gate_open
        assert all(mock_pins.pin(p).state == 0 for p in (GREEN, RED, AMBER, BUZZER))


def test_pass_lights_green_chirps_once_opens_gate_then_all_returns_to_idle(mock_pins: MockFactory) -> None:
    with Indicator(config()) as indicator:
        for p in (GREEN, BUZZER, GATE):
            mock_pins.pin(p).clear_states()
        indicator.show(Outcome.PASS)
        assert mock_pins.pin(GREEN).state == 1
        assert mock_pins.pin(RED).state == 0
        assert indicator.gate_open
        wait_until(lambda: mock_pins.pin(GATE).state == 0)  # gate shuts before the light goes out
        assert mock_pins.pin(GREEN).state == 1
        wait_until(lambda: indicator.current is None)
        mock_pins.pin(GREEN).assert_states([False, True, False])
        mock_pins.pin(GATE).assert_states([False, True, False])
        mock_pins.pin(BUZZER).assert_states([False, True, False])
        green_on = pin_on_durations(mock_pins.pin(GREEN))[0]
        gate_open = pin_on_durations(mock_pins.pin(GATE))[0]
        assert 0.5 <= green_on < 1.5
        assert 0.3 <= gate_open < green_on


def test_deny_is_solid_red_with_three_beeps_and_never_opens_the_gate(mock_pins: MockFactory) -> None:
    with Indicator(config(hold_s=2.0)) as indicator:
        mock_pins.pin(BUZZER).clear_states()
        mock_pins.pin(GATE).clear_states()
        indicator.show(Outcome.DENY)
        assert mock_pins.pin(RED).state == 1
        assert not indicator.gate_open
        beeps = PATTERNS[Outcome.DENY].beeps
        wait_until(lambda: len(pin_on_durations(mock_pins.pin(BUZZER))) == beeps.count)
        for duration in pin_on_durations(mock_pins.pin(BUZZER)):
            assert beeps.on_s * 0.9 <= duration < beeps.on_s + 0.3
        assert mock_pins.pin(GATE).states[-1].state == 0
        assert all(s.state == 0 for s in mock_pins.pin(GATE).states)


def test_review_blinks_amber(mock_pins: MockFactory) -> None:
    with Indicator(config(hold_s=2.0)) as indicator:
        mock_pins.pin(AMBER).clear_states()
        indicator.show(Outcome.REVIEW)
        wait_until(lambda: len(pin_on_durations(mock_pins.pin(AMBER))) >= 2)
        on_s, _off_s = PATTERNS[Outcome.REVIEW].blink
        assert on_s * 0.9 <= pin_on_durations(mock_pins.pin(AMBER))[0] < on_s + 0.3
        assert mock_pins.pin(GREEN).state == 0 and mock_pins.pin(RED).state == 0


def test_a_new_verdict_replaces_the_old_one_and_locks_the_gate(mock_pins: MockFactory) -> None:
    with Indicator(config(hold_s=0.4, gate_open_s=5.0)) as indicator:
        indicator.show(Outcome.PASS)
        assert indicator.gate_open
        indicator.show(Outcome.DENY)
        assert mock_pins.pin(GREEN).state == 0
        assert mock_pins.pin(RED).state == 1
        assert not indicator.gate_open
        # The PASS's hold timer must not cut the DENY short: it still shows past the first hold.
        time.sleep(0.2)
        assert indicator.current is Outcome.DENY


def test_close_locks_the_gate_immediately(mock_pins: MockFactory) -> None:
    indicator = Indicator(config(gate_open_s=10.0))
    indicator.show(Outcome.PASS)
    assert mock_pins.pin(GATE).state == 1
    indicator.close()
    assert mock_pins.pin(GATE).state == 0
    indicator.close()  # twice is harmless
    indicator.show(Outcome.PASS)  # after close: ignored, the gate stays locked
    assert mock_pins.pin(GATE).state == 0


def test_gate_locks_when_an_exception_escapes(mock_pins: MockFactory) -> None:
    with pytest.raises(RuntimeError), Indicator(config(gate_open_s=10.0)) as indicator:
        indicator.show(Outcome.PASS)
        assert mock_pins.pin(GATE).state == 1
        raise RuntimeError("decoder blew up")
    assert mock_pins.pin(GATE).state == 0


def test_active_low_wiring_is_honoured(mock_pins: MockFactory) -> None:
    with Indicator(config(lights_active_high=False, gate_active_high=False)) as indicator:
        assert mock_pins.pin(GATE).state == 1  # active-low: high level means de-energised
        assert mock_pins.pin(GREEN).state == 1
        indicator.show(Outcome.PASS)
        assert mock_pins.pin(GREEN).state == 0
        assert mock_pins.pin(GATE).state == 0


def test_force_gate_closed_drives_the_locked_level(mock_pins: MockFactory) -> None:
    assert force_gate_closed(config()) is True
    assert mock_pins.pin(GATE).state == 0
    assert force_gate_closed(config(gate_pin=None)) is False


def test_gate_is_locked_when_the_process_dies_of_an_uncaught_exception() -> None:
    """A separate process opens the gate and crashes; an atexit hook registered before the
    indicator existed (so it runs after the indicator's own) reports the gate pin as locked."""
    script = textwrap.dedent(
        """
        import atexit
        from gpiozero import Device
        from gpiozero.pins.mock import MockFactory
        Device.pin_factory = MockFactory()
        atexit.register(lambda: print("GATE_AT_EXIT", Device.pin_factory.pin(24).state, flush=True))
        from kiosk.display import Indicator, IndicatorConfig
        from kiosk.verify.verdict import Outcome
        ind = Indicator(IndicatorConfig(gate_pin=24, gate_open_s=30))
        ind.show(Outcome.PASS)
        print("GATE_OPEN", Device.pin_factory.pin(24).state, flush=True)
        raise RuntimeError("the kiosk crashed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert "GATE_OPEN True" in result.stdout, result.stdout + result.stderr
    assert "GATE_AT_EXIT False" in result.stdout, result.stdout + result.stderr
    assert "the kiosk crashed" in result.stderr
    assert result.returncode == 1


def test_config_refuses_shared_pins() -> None:
    with pytest.raises(ValueError, match="distinct"):
        IndicatorConfig(green_pin=17, red_pin=17)
