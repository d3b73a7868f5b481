"""What each verdict looks and sounds like: data, so it can be read, tested and changed in one place."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.verify.verdict import Outcome


@dataclass(frozen=True, slots=True)
class Beeps:
    on_s: float
    off_s: float
    count: int


@dataclass(frozen=True, slots=True)
class Pattern:
    light: str  # "green" | "red" | "amber"
    blink: tuple[float, float] | None  # (on_s, off_s) or solid
    beeps: Beeps
    opens_gate: bool


PATTERNS: dict[Outcome, Pattern] = {
    # One short chirp: "go". Solid green; the gate opens.
    Outcome.PASS: Pattern("green", None, Beeps(0.08, 0.0, 1), opens_gate=True),
    # Three firm beeps that are hard to miss in a noisy shop or at a roadside. Solid red.
    Outcome.DENY: Pattern("red", None, Beeps(0.2, 0.1, 3), opens_gate=False),
    # Amber blinks (different from both others even for colour-blind people) with two beeps.
    Outcome.REVIEW: Pattern("amber", (0.4, 0.2), Beeps(0.15, 0.15, 2), opens_gate=False),
}
