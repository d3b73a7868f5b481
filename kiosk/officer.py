"""What an officer does at an assisted checkpoint, as pure functions of their inputs.

Confirming or overriding the kiosk's verdict, and typing in a paper declaration for a citizen
without a smartphone, each produce a verdict that is recorded as a passage with the officer's id.
A paper declaration is checked against the same flag list as a scanned code: an F0 person is
stopped whatever the paper says.
"""

from __future__ import annotations

import datetime as dt

from kiosk.verify.flags import FlagStore
from kiosk.verify.identity import has_unsafe_characters
from kiosk.verify.messages import describe
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Outcome, PayloadKind, Subject, Verdict
from wire.identity import is_person_id

ACTIONS = frozenset({"confirm", "override"})


class OfficerInputError(ValueError):
    """The officer's input cannot be recorded as it is; the message says what to fix."""


def _officer_id(value: object) -> str:
    if not isinstance(value, str) or not (0 < len(value.strip()) <= 64):
        raise OfficerInputError("officer_id is required (at most 64 characters)")
    return value.strip()


def officer_target(requested: object, on_screen: str | None) -> str:
    """The event an officer action is about: it must name the verdict on screen now.

    A verdict can be confirmed or overridden only while it is shown (its hold time), and only by naming
    it, so an action sent late, twice, or for another person's scan never lands on whatever came after.
    """
    if not isinstance(requested, str) or not requested:
        raise OfficerInputError("event_id (the verdict on screen) is required")
    if on_screen is None:
        raise OfficerInputError(
            "the verdict is no longer on screen (its hold time passed); nothing was recorded"
        )
    if requested != on_screen:
        raise OfficerInputError("the verdict on screen has changed; nothing was recorded")
    return requested


def officer_decision(
    original: Verdict, action: object, override_to: object, officer_id: object
) -> tuple[str, Verdict]:
    """(officer id, the verdict to record) for a confirmation or an override of `original`."""
    officer = _officer_id(officer_id)
    if action not in ACTIONS:
        raise OfficerInputError("action must be 'confirm' or 'override'")
    if action == "confirm":
        outcome, reason = original.outcome, "officer_confirmed"
    else:
        if override_to not in ("PASS", "DENY"):
            raise OfficerInputError("an override must say PASS or DENY")
        outcome, reason = Outcome(override_to), "officer_override"
    reasons = (reason, *original.reasons)
    vi, en = describe([reason])
    return officer, Verdict(
        outcome, original.kind, reasons, vi, en, original.subject, None, original.flags_version
    )


def manual_declaration(
    flags: FlagStore,
    policy: PolicyConfig,
    form: dict[str, object],
    now: dt.datetime,
    flags_ended_by: dt.datetime | None = None,
) -> tuple[str, Verdict]:
    """(officer id, verdict) for a typed-in paper declaration; flags apply as to any code (a flag's
    end lifts it only by `flags_ended_by`, the proven time: TimeContext.flag_end_cutoff)."""
    officer = _officer_id(form.get("officer_id"))
    id_number, name, dob = form.get("id_number"), form.get("name"), form.get("dob")
    if not is_person_id(id_number):  # 12 ASCII digits (str.isdigit also takes full-width ones)
        raise OfficerInputError("id_number must be the 12-digit personal identification number")
    if not (isinstance(name, str) and 0 < len(name.strip()) <= 128):
        raise OfficerInputError("name is required")
    if has_unsafe_characters(name):
        raise OfficerInputError("name: no control or text-direction characters")
    try:
        birth = dt.date.fromisoformat(str(dob))
    except ValueError:
        raise OfficerInputError("dob must be a date (YYYY-MM-DD)") from None
    if birth > now.date():
        raise OfficerInputError("dob is in the future")
    findings: list[tuple[Outcome, str]] = [(Outcome.PASS, "manual_declaration")]
    hit = flags.person(id_number, flags_ended_by)
    if hit is not None:
        findings.append((policy.outcome_for_flag(hit.status.name), f"flag_{hit.status.name.lower()}"))
    severity = {Outcome.PASS: 0, Outcome.REVIEW: 1, Outcome.DENY: 2}
    outcome = max((o for o, _ in findings), key=severity.__getitem__)
    ordered = [r for o, r in sorted(findings, key=lambda f: -severity[f[0]])]
    vi, en = describe([r for o, r in findings if o is outcome])
    subject = Subject(id_number, name.strip(), birth.isoformat())
    return officer, Verdict(outcome, PayloadKind.MANUAL, tuple(ordered), vi, en, subject, None, flags.version)
