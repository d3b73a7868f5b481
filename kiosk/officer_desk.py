"""The officer's side of an assisted checkpoint: actions on the screen, the physical buttons, and typed-in
paper declarations, each recorded as a passage with the officer's id.

kiosk/officer.py decides (pure functions); this records. It remembers which scanned verdict is on screen
(an action must name it: a late or doubled one never lands on the next person's scan) and who the
officer on duty is (a button press carries no name). The order is the scan's: the passage is recorded
first, then the light and the screen show it, then the link is nudged to publish it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kiosk.clock import ClockReading, WallClock
from kiosk.display import Indicator
from kiosk.officer import OfficerInputError, manual_declaration, officer_decision, officer_target
from kiosk.record import event_fields
from kiosk.screen.server import ActionRefused
from kiosk.screen.state import ScreenState
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Verdict

log = logging.getLogger(__name__)


class OfficerDesk:
    def __init__(
        self,
        *,
        kiosk_id: str,
        checkpoint_id: str,
        policy: PolicyConfig,
        flags: FlagStore,
        verify_lock: threading.Lock,
        clock: WallClock,
        store: KioskStore,
        indicator: Indicator,
        screen_state: ScreenState,
        recorded: Callable[[Verdict, str, ClockReading], None],
        nudge: Callable[[], None],
        officer_on_duty: str | None = None,
    ) -> None:
        self.kiosk_id = kiosk_id
        self.checkpoint_id = checkpoint_id
        self.policy = policy
        self.flags = flags
        self.verify_lock = verify_lock  # a declaration reads the flags a scan reads, under the same lock
        self.clock = clock
        self.store = store
        self.indicator = indicator
        self.screen_state = screen_state
        self._recorded = recorded  # (verdict, mode, clock reading) of each passage, once it is stored
        self._nudge = nudge  # the link publishes it
        self._last_shown: tuple[Verdict, str, bytes] | None = None  # (verdict, event_id, raw) on screen
        self.officer_on_duty = officer_on_duty  # who a physical button press is recorded as

    def scanned(self, verdict: Verdict, event_id: str, raw: bytes) -> None:
        """A scanned passage was recorded and is on screen now: the verdict an officer acts on."""
        self._last_shown = (verdict, event_id, raw)

    def action(self, body: dict[str, Any]) -> dict[str, Any]:
        """Confirm or override the verdict on screen; recorded as an assisted passage with the officer id."""
        shown = self._last_shown
        try:
            event_id = officer_target(body.get("event_id"), self.screen_state.current_event_id())
            if shown is None or shown[1] != event_id:
                raise OfficerInputError("the verdict on screen has changed; nothing was recorded")
            officer, verdict = officer_decision(
                shown[0], body.get("action"), body.get("verdict"), body.get("officer_id")
            )
        except OfficerInputError as exc:
            raise ActionRefused(str(exc)) from None
        override = body.get("action") == "override"
        event_id = self._record(verdict, shown[2], "assisted", officer, override)
        self.officer_on_duty = officer
        # The screen now shows the officer's passage (its own event id) for the same scan: a second
        # action (an override after a confirmation) still refers to the scanned verdict.
        self._last_shown = (shown[0], event_id, shown[2])
        return {"message": verdict.message_vi, "verdict": verdict.outcome.value, "event_id": event_id}

    def button(self, body: dict[str, Any]) -> None:
        """A physical button: the same action as on the screen, by the officer on duty."""
        if self.officer_on_duty is None:
            log.warning("officer button pressed, but no officer has identified on the screen yet")
            return
        try:
            on_screen = self.screen_state.current_event_id()  # the button acts on what the officer sees
            result = self.action({**body, "officer_id": self.officer_on_duty, "event_id": on_screen})
        except (ActionRefused, OfficerInputError) as exc:
            log.info("officer button: %s", exc)
            return
        log.info("officer button: %s recorded", result["verdict"])

    def manual(self, body: dict[str, Any]) -> dict[str, Any]:
        """A paper declaration typed in by the officer, checked against the flags like a scanned code."""
        reading = self.clock.read()
        try:
            with self.verify_lock:
                officer, verdict = manual_declaration(
                    self.flags, self.policy, body, reading.now, reading.context().flag_end_cutoff()
                )
        except OfficerInputError as exc:
            raise ActionRefused(str(exc)) from None
        event_id = self._record(verdict, None, "manual", officer, None)
        self.officer_on_duty = officer
        return {"message": verdict.message_vi, "verdict": verdict.outcome.value, "event_id": event_id}

    def _record(
        self, verdict: Verdict, raw: bytes | None, mode: str, officer: str, override: bool | None
    ) -> str:
        reading = self.clock.read()
        fields = event_fields(
            verdict, reading, raw, self.kiosk_id, self.checkpoint_id,
            mode, self.flags.version, officer_id=officer, override=override,
        )  # fmt: skip
        self.store.record(fields)
        self._recorded(verdict, mode, reading)
        self.indicator.show(verdict.outcome)
        self.screen_state.show(verdict, fields["event_id"])
        self._nudge()
        return str(fields["event_id"])
