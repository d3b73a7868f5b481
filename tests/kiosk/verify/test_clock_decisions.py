"""What a wrong clock can and cannot change (issue 12 item 1): the verifier's side.

A clock set back must not revive an expired code nor put a flagged person before their flag; a
clock set ahead must not lift a flag; after an offline reboot, what the proven floor decides is
decided (expired before it: DENY; flagged: DENY) and the rest goes to the officer.
"""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.verify.flags import FlagStatus, FlagStore, PersonFlag
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from provisioning.issuer import mint_pass
from testkit.dcc import NOW

DAY = dt.timedelta(days=1)
ID = "001099012345"
CCCD = f"{ID}|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021".encode()
SELF_SCAN = PolicyConfig(identity_only="PASS")  # a supermarket: a bare ID card passes


def _flags(status: FlagStatus, start: dt.datetime, end: dt.datetime | None = None) -> FlagStore:
    store = FlagStore(version=1)
    until = None if end is None else int(end.timestamp())
    flag = PersonFlag(store.hash_id(ID), status, int(start.timestamp()), until)
    store.apply_delta([flag], [], 2)
    return store


def _pass(issuers, valid_from: dt.datetime, valid_until: dt.datetime) -> bytes:
    return mint_pass(
        issuers["Ed25519"], id_number=ID, name="Nguyễn Văn An", dob="1999-01-01",
        valid_from=valid_from, valid_until=valid_until,
    ).encode()  # fmt: skip


@pytest.mark.parametrize("trusted", [True, False])
def test_f0_flagged_since_is_stopped_with_the_clock_days_behind(trust, trusted):
    """Flagged yesterday; the kiosk's clock says three days ago (trusted or not): red, `flag_f0`."""
    verifier = Verifier(trust, _flags(FlagStatus.F0, NOW - DAY), SELF_SCAN)
    behind = NOW - 3 * DAY
    verdict = verifier.verify(CCCD, behind, trusted)
    assert verdict.outcome is Outcome.DENY and "flag_f0" in verdict.reasons, verdict
    # at an assisted checkpoint (a bare ID card is REVIEW) the flag is named and wins: DENY
    assisted = Verifier(trust, _flags(FlagStatus.F0, NOW - DAY)).verify(CCCD, behind, trusted)
    assert assisted.outcome is Outcome.DENY and assisted.reasons[0] == "flag_f0"
    # and with the floor the kiosk proved (the hub's time), the same
    with_floor = verifier.verify(CCCD, behind, False, floor=NOW, hub_now=NOW)
    assert with_floor.outcome is Outcome.DENY and "flag_f0" in with_floor.reasons


def test_a_flag_whose_start_is_still_ahead_applies_now(trust):
    verifier = Verifier(trust, _flags(FlagStatus.F1, NOW + 2 * DAY), SELF_SCAN)
    verdict = verifier.verify(CCCD, NOW)
    assert verdict.outcome is Outcome.DENY and "flag_f1" in verdict.reasons


def test_after_an_offline_reboot_the_floor_decides_what_it_can(trust, issuers):
    """Clock untrusted and below the floor: expired before the floor is DENY `expired` (not amber),
    flagged is DENY, a code valid at the floor goes to the officer (REVIEW), never PASS."""
    floor, reading = NOW, NOW - 30 * DAY  # the RTC-less Pi woke up in the past
    verifier = Verifier(trust, FlagStore(), SELF_SCAN)
    expired = _pass(issuers, NOW - 9 * DAY, NOW - 2 * DAY)
    verdict = verifier.verify(expired, reading, False, floor=floor)
    assert (verdict.outcome, verdict.failed_step, verdict.reasons) == (Outcome.DENY, "validity", ("expired",))

    valid = _pass(issuers, NOW - DAY, NOW + 7 * DAY)
    verdict = verifier.verify(valid, reading, False, floor=floor)
    assert verdict.outcome is Outcome.REVIEW and "clock_untrusted" in verdict.reasons

    # expired after the floor but (maybe) before the true time: not proven, the officer decides
    lapsed = _pass(issuers, NOW - 9 * DAY, NOW + DAY)
    verdict = verifier.verify(lapsed, NOW + 2 * DAY, False, floor=floor)
    assert verdict.outcome is Outcome.REVIEW and set(verdict.reasons) == {"expired", "clock_untrusted"}

    flagged = Verifier(trust, _flags(FlagStatus.F0, NOW - DAY), SELF_SCAN)
    assert flagged.verify(valid, reading, False, floor=floor).outcome is Outcome.DENY
    assert flagged.verify(CCCD, reading, False, floor=floor).outcome is Outcome.DENY


def test_a_reading_below_the_floor_is_never_trusted(trust, issuers):
    """Even a caller that calls such a reading trusted (a spoofed NTP, an RTC set wrong)."""
    verifier = Verifier(trust, FlagStore(), SELF_SCAN)
    valid = _pass(issuers, NOW - 40 * DAY, NOW + 7 * DAY)
    verdict = verifier.verify(valid, NOW - 30 * DAY, True, floor=NOW)
    assert verdict.outcome is Outcome.REVIEW and "clock_untrusted" in verdict.reasons


def test_a_clock_set_ahead_does_not_lift_a_flag(trust):
    """F1 until tomorrow. The kiosk's clock says next week (NTP spoofed: 'trusted'): the flag's end
    is judged by the hub's signed time, which has not passed it, so the person is still stopped."""
    verifier = Verifier(trust, _flags(FlagStatus.F1, NOW - DAY, NOW + DAY), SELF_SCAN)
    ahead = NOW + 7 * DAY
    verdict = verifier.verify(CCCD, ahead, True, floor=ahead, hub_now=NOW)
    assert verdict.outcome is Outcome.DENY and "flag_f1" in verdict.reasons
    # once the hub's time has passed the end, the flag has ended (whatever the kiosk's clock says)
    ended = verifier.verify(CCCD, NOW - 3 * DAY, False, floor=NOW + 2 * DAY, hub_now=NOW + 2 * DAY)
    assert "flag_f1" not in ended.reasons
    # never heard from a hub: an untrusted clock never lifts a flag; a trusted one does
    assert "flag_f1" in verifier.verify(CCCD, ahead, False).reasons
    assert verifier.verify(CCCD, ahead, True).outcome is Outcome.PASS
