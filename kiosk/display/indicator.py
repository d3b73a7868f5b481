"""Lights, buzzer and gate relay through gpiozero.

Safety rule: the gate relay is energised only while a PASS holds it open, and every way out of the
process closes it: the hold timer, `close()`, the context manager, an interpreter-exit hook
(uncaught exceptions, SIGTERM), and systemd's ExecStopPost running `kiosk gate-safe` after even a
SIGKILL. The relay must be wired so that an unpowered coil or a released pin means *locked*;
`gate_active_high=True` with the usual pull-down is that wiring.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from types import TracebackType

from gpiozero import LED, Buzzer, OutputDevice
from gpiozero.pins import Factory

from kiosk.display.config import IndicatorConfig
from kiosk.display.patterns import PATTERNS
from kiosk.verify.verdict import Outcome

log = logging.getLogger(__name__)


class Indicator:
    """Shows one verdict at a time for `hold_s`; a newer verdict replaces the older at once."""

    def __init__(self, config: IndicatorConfig, pin_factory: Factory | None = None) -> None:
        self.config = config
        high = config.lights_active_high
        self._lights = {
            "green": LED(config.green_pin, active_high=high, pin_factory=pin_factory),
            "red": LED(config.red_pin, active_high=high, pin_factory=pin_factory),
            "amber": LED(config.amber_pin, active_high=high, pin_factory=pin_factory),
        }
        self._buzzer = (
            Buzzer(config.buzzer_pin, active_high=config.buzzer_active_high, pin_factory=pin_factory)
            if config.buzzer_pin is not None and config.buzzer_enabled
            else None
        )
        self._gate = (
            OutputDevice(
                config.gate_pin,
                active_high=config.gate_active_high,
                initial_value=False,
                pin_factory=pin_factory,
            )
            if config.gate_pin is not None
            else None
        )
        if self._gate is not None and not config.gate_active_high:
            log.warning("gate relay is active-low: a released pin may open it; prefer active-high wiring")
        self._lock = threading.Lock()
        self._clear_timer: threading.Timer | None = None
        self._gate_timer: threading.Timer | None = None
        self.current: Outcome | None = None
        self._closed = False
        # Each show() bumps the generation; a timer that fired for an older verdict does nothing,
        # so a late timer can never darken (or lock the gate on) the verdict shown after it.
        self._generation = 0
        # gpiozero's own exit handler releases pins but does not drive them, so we lock the gate
        # ourselves on interpreter exit (uncaught exception, SystemExit, SIGTERM turned into exit).
        atexit.register(_close_at_exit, weakref.ref(self))

    def show(self, outcome: Outcome) -> None:
        """Light the verdict, sound its pattern, open the gate on PASS; all undone after the hold."""
        pattern = PATTERNS[outcome]
        with self._lock:
            if self._closed:
                return
            self._cancel_timers()
            self._all_off()
            self._generation += 1
            generation = self._generation
            light = self._lights[pattern.light]
            if pattern.blink is None:
                light.on()
            else:
                on_s, off_s = pattern.blink
                light.blink(on_time=on_s, off_time=off_s, background=True)
            if self._buzzer is not None:
                b = pattern.beeps
                self._buzzer.beep(on_time=b.on_s, off_time=b.off_s, n=b.count, background=True)
            if self._gate is not None:
                if pattern.opens_gate:
                    self._gate.on()
                    self._gate_timer = self._timer(self.config.gate_open_s, self._close_gate, generation)
                else:
                    self._gate.off()
            self.current = outcome
            self._clear_timer = self._timer(self.config.hold_s, self._expire, generation)

    def clear(self) -> None:
        """Everything off and the gate closed: the idle state."""
        with self._lock:
            self._cancel_timers()
            self._generation += 1
            self._all_off()
            if self._gate is not None:
                self._gate.off()
            self.current = None

    @property
    def gate_open(self) -> bool:
        return self._gate is not None and bool(self._gate.value)

    def close(self) -> None:
        """Lock the gate, darken everything and release the pins. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cancel_timers()
            if self._gate is not None:
                self._gate.off()
                self._gate.close()
            self._all_off()
            for device in self._lights.values():
                device.close()
            if self._buzzer is not None:
                self._buzzer.close()

    def __enter__(self) -> Indicator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _expire(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._closed:
                return
            self._all_off()
            if self._gate is not None:
                self._gate.off()
            self.current = None

    def _close_gate(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation and self._gate is not None and not self._closed:
                self._gate.off()

    def _all_off(self) -> None:
        for device in self._lights.values():
            device.off()
        if self._buzzer is not None:
            self._buzzer.off()

    def _cancel_timers(self) -> None:
        for timer in (self._clear_timer, self._gate_timer):
            if timer is not None:
                timer.cancel()
        self._clear_timer = self._gate_timer = None

    @staticmethod
    def _timer(seconds: float, action: Callable[[int], None], generation: int) -> threading.Timer:
        timer = threading.Timer(seconds, action, args=(generation,))
        timer.daemon = True
        timer.start()
        return timer


def _close_at_exit(ref: weakref.ref[Indicator]) -> None:
    indicator = ref()
    if indicator is not None:
        indicator.close()


def force_gate_closed(config: IndicatorConfig, pin_factory: Factory | None = None) -> bool:
    """Drive the gate pin to its locked level and release it; for ExecStopPost after a crash.

    Returns False when no gate is configured.
    """
    if config.gate_pin is None:
        return False
    gate = OutputDevice(
        config.gate_pin, active_high=config.gate_active_high, initial_value=False, pin_factory=pin_factory
    )
    gate.off()
    gate.close()
    return True
