"""The kiosk screen in a real headless Chromium, fed by a real kiosk service scanning generated QR codes.

What a citizen and an officer see: the verdict of the scan in colour and in Vietnamese (English
below); in assisted mode the details, officer confirmation and override, the paper declaration,
each recorded as a passage; nothing personal left in the page after the hold time; no request
leaves the machine; the buttons work from a keyboard; the verdict is large and has enough contrast.
Screenshots of each step land in tests/artifacts/screen/ (see tests/support/browser.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from playwright.sync_api import Page, expect

from kiosk.camera.replay import GeneratedSource
from kiosk.config import KioskConfig
from kiosk.pipeline import Decision
from kiosk.screen.server import ScreenServer
from kiosk.screen.state import ScreenState
from kiosk.service import KioskService
from kiosk.simulate import background, phone_scene
from kiosk.verify.flags import FlagStatus, PersonFlag
from kiosk.verify.messages import describe
from testkit.linkrig import wait_for
from tests.support.browser import CONTRAST_JS, ScreenPage
from wire.events import PassageEvent

# Synthetic people (never real data), as in demo/single_kiosk.py.
AN = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
AN_DETAILS = ("Nguyễn Văn An", "1999-01-01", "001099012345")
CUONG_ID = "079084012345"  # flagged F0
CUONG = f"{CUONG_ID}|023456789|Lê Văn Cường|03031984|Nam|Tổ 2, Phường D, Thành phố E, Tỉnh F|23092024||||"
PAPER = {"id_number": "001199012345", "name": "Trần Thị Bình", "dob": "1999-02-02"}

HEADLINES_VI = {"PASS": "Mời qua", "DENY": "Dừng lại", "REVIEW": "Vui lòng gặp cán bộ"}
CONFIRMED_VI, OVERRIDDEN_VI, MANUAL_VI = (
    describe([reason])[0] for reason in ("officer_confirmed", "officer_override", "manual_declaration")
)
WAIT_MS = 10_000


class HandHeldCamera:
    """The kiosk camera facing a queue: an empty counter until the test holds a code up to it."""

    def __init__(self) -> None:
        self._empty = [background(640, 480)]
        self._frames = self._empty

    def hold(self, payload: str) -> None:
        # A hand is never still: three slightly different frames, cycled.
        self._frames = [phone_scene(payload, seed=i, offset=(3 * i, -2 * i)) for i in range(3)]

    def away(self) -> None:
        self._frames = self._empty

    def frame(self, index: int) -> np.ndarray:
        frames = self._frames
        return frames[index % len(frames)]


@dataclass
class Kiosk:
    service: KioskService
    camera: HandHeldCamera
    decisions: list[Decision]

    @property
    def url(self) -> str:
        assert self.service.screen is not None
        return self.service.screen.url

    def scan(self, payload: str) -> Decision:
        """Hold a code up until the kiosk has decided on it, then take it away."""
        before = len(self.decisions)
        self.camera.hold(payload)
        wait_for(lambda: len(self.decisions) > before, 20, "a decision on the held code")
        self.camera.away()
        return self.decisions[before]

    def passages(self) -> list[PassageEvent]:
        return self.service.store.passages()


@pytest.fixture
def start_kiosk(tmp_path: Path) -> Iterator[Callable[..., Kiosk]]:
    """Starts a real KioskService (camera -> decode -> verify -> store -> screen on a free port)."""
    started: list[tuple[KioskService, threading.Thread]] = []

    def start(mode: str, hold_s: float) -> Kiosk:
        config = KioskConfig.model_validate(
            {
                "kiosk": {
                    "kiosk_id": f"{mode}-1",
                    "checkpoint_id": "ql1a-km12" if mode == "assisted" else "sm-01",
                    "mode": mode,
                    "state_dir": str(tmp_path / mode),
                    "assume_clock_trusted": True,
                },
                "indicator": {"hold_s": hold_s},
                # A bare CCCD passes at a supermarket (self) and needs an officer at a road checkpoint.
                "policy": {"identity_only": "PASS" if mode == "self" else "REVIEW"},
                "screen": {"port": 0},
            }
        )
        camera = HandHeldCamera()
        decisions: list[Decision] = []
        service = KioskService(
            config,
            source=GeneratedSource(camera.frame, fps=30),
            pin_factory=MockFactory(pin_class=MockPWMPin),
            on_decision=decisions.append,
        )
        since = int(datetime.now(UTC).timestamp()) - 60
        service.flags.apply_delta([PersonFlag(service.flags.hash_id(CUONG_ID), FlagStatus.F0, since)], [], 1)
        thread = threading.Thread(target=service.run, name=f"kiosk-{mode}")
        thread.start()
        started.append((service, thread))  # the screen's socket listens from __init__: no wait needed
        return Kiosk(service, camera, decisions)

    yield start
    for service, thread in started:
        service.stop_event.set()
        thread.join(30)
        assert not thread.is_alive(), "the kiosk service did not stop"


# -- page helpers ---------------------------------------------------------------------------------


# Everything a person could read or a script could scrape: all text (hidden nodes too) and form values.
PAGE_TEXT_JS = """
() => document.documentElement.outerHTML + "\\n" +
      Array.from(document.querySelectorAll("input, textarea, select")).map((e) => e.value).join("\\n")
"""


def verdict_style(page: Page) -> dict[str, Any]:
    return page.evaluate(CONTRAST_JS, ["#headline", "#verdict"])


def colour_name(rgb: list[float]) -> str:
    r, g, b = rgb
    if g > r and g > b:
        return "green"
    if r > 150 and g > 120 and b < 80:
        return "amber"
    if r > g and r > b:
        return "red"
    return "grey"


def expect_verdict(screen: ScreenPage, decision: Decision) -> None:
    """The page shows this decision: its colour, the Vietnamese headline and message, the English line."""
    outcome = decision.verdict.outcome.value
    page = screen.page
    expect(page.locator("#verdict")).to_have_class(outcome, timeout=WAIT_MS)
    expect(page.locator("#headline")).to_have_text(HEADLINES_VI[outcome])
    expect(page.locator("#message")).to_have_text(decision.verdict.message_vi)
    expect(page.locator("#subline")).to_contain_text(decision.verdict.message_en)
    style = verdict_style(page)
    assert colour_name(style["bg"]) == {"PASS": "green", "DENY": "red", "REVIEW": "amber"}[outcome], style
    assert style["fontPx"] >= 48, style
    assert style["ratio"] >= 4.5, style


def assert_nothing_personal(page: Page, details: tuple[str, ...]) -> None:
    text = page.evaluate(PAGE_TEXT_JS)
    left = [d for d in details if d in text]
    assert not left, f"personal details still in the page after the hold time: {left}"


def assert_stayed_local(screen: ScreenPage, kiosk: Kiosk) -> None:
    assert screen.external == [], f"the page tried to reach the network: {screen.external}"
    assert screen.requested and all(u.startswith(kiosk.url) for u in screen.requested), screen.requested
    assert screen.console_errors == [], screen.console_errors


# -- tests ----------------------------------------------------------------------------------------


def test_walk_up_screen_follows_real_scans_in_colour_and_vietnamese(
    start_kiosk: Callable[..., Kiosk], screen_page: ScreenPage
) -> None:
    kiosk = start_kiosk("self", hold_s=30)
    page = screen_page.page
    page.goto(kiosk.url)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("#headline")).to_have_text("Vui lòng đưa mã QR vào camera")
    expect(page.locator("#officer")).to_be_hidden()  # no officer controls at a walk-up kiosk
    screen_page.screenshot("1-idle")

    passed = kiosk.scan(AN)
    assert passed.verdict.outcome.value == "PASS"
    expect_verdict(screen_page, passed)
    expect(page.locator("#subject")).to_be_hidden()
    assert_nothing_personal(page, AN_DETAILS)  # self-service never shows who passed
    screen_page.screenshot("2-pass")

    flagged = kiosk.scan(CUONG)
    assert flagged.verdict.outcome.value == "DENY" and "flag_f0" in flagged.verdict.reasons
    expect_verdict(screen_page, flagged)
    screen_page.screenshot("3-deny-f0")

    junk = kiosk.scan("this is not a checkpoint code")
    assert junk.verdict.outcome.value == "DENY"
    expect_verdict(screen_page, junk)
    screen_page.screenshot("4-deny-malformed")
    assert_stayed_local(screen_page, kiosk)


def test_officer_sees_details_confirms_and_overrides_a_real_scan(
    start_kiosk: Callable[..., Kiosk], screen_page: ScreenPage
) -> None:
    kiosk = start_kiosk("assisted", hold_s=30)
    page = screen_page.page
    page.goto(kiosk.url)
    expect(page.locator("#officer")).to_be_visible()

    scanned = kiosk.scan(AN)
    assert scanned.verdict.outcome.value == "REVIEW"  # a bare ID card at a road checkpoint
    expect_verdict(screen_page, scanned)
    expect(page.locator("#subject")).to_be_visible()
    expect(page.locator("#name")).to_have_text("Nguyễn Văn An")
    expect(page.locator("#dob")).to_have_text("1999-01-01")
    expect(page.locator("#id_number")).to_have_text("001099012345")
    expect(page.locator("#reasons")).to_contain_text("identity_only")
    screen_page.screenshot("1-review-details")

    page.locator("#confirm").click()  # no officer id yet: refused on the page, nothing recorded
    expect(page.locator("#officer_result")).to_contain_text("Nhập mã cán bộ")
    page.locator("#officer_id").fill("CB-042")
    page.locator("#confirm").click()
    expect(page.locator("#officer_result")).to_have_text(CONFIRMED_VI)  # the kiosk's answer, recorded
    expect(page.locator("#headline")).to_have_text(HEADLINES_VI["REVIEW"])
    screen_page.screenshot("2-confirmed")

    page.locator("#override_pass").click()
    expect(page.locator("#verdict")).to_have_class("PASS", timeout=WAIT_MS)
    expect(page.locator("#officer_result")).to_have_text(OVERRIDDEN_VI)
    expect(page.locator("#name")).to_have_text("Nguyễn Văn An")  # still the same person
    expect(page.locator("#officer_result")).not_to_be_empty()
    screen_page.screenshot("3-overridden-pass")

    events = kiosk.passages()
    assert [(e.mode, e.verdict, e.officer_id, e.override) for e in events] == [
        ("assisted", "REVIEW", None, None),
        ("assisted", "REVIEW", "CB-042", False),
        ("assisted", "PASS", "CB-042", True),
    ]
    assert events[2].reasons[0] == "officer_override" and "identity_only" in events[2].reasons
    assert_stayed_local(screen_page, kiosk)


def test_paper_declaration_form_records_a_manual_passage(
    start_kiosk: Callable[..., Kiosk], screen_page: ScreenPage
) -> None:
    kiosk = start_kiosk("assisted", hold_s=30)
    page = screen_page.page
    page.goto(kiosk.url)
    page.locator("#officer_id").fill("CB-042")

    page.locator("#m_id").fill(CUONG_ID)  # an F0 person on paper is stopped like on a phone
    page.locator("#m_name").fill("Lê Văn Cường")
    page.locator("#m_dob").fill("1984-03-03")
    screen_page.screenshot("1-form-filled")
    page.locator("#record").click()
    expect(page.locator("#verdict")).to_have_class("DENY", timeout=WAIT_MS)
    expect(page.locator("#name")).to_have_text("Lê Văn Cường")
    expect(page.locator("#m_id")).to_have_value("")  # recorded: the form is cleared for the next citizen
    screen_page.screenshot("2-manual-deny")

    page.locator("#m_id").fill(PAPER["id_number"])
    page.locator("#m_name").fill(PAPER["name"])
    page.locator("#m_dob").fill(PAPER["dob"])
    page.locator("#record").click()
    expect(page.locator("#verdict")).to_have_class("PASS", timeout=WAIT_MS)
    expect(page.locator("#name")).to_have_text(PAPER["name"])
    expect(page.locator("#m_id")).to_have_value("")
    screen_page.screenshot("3-manual-pass")

    page.locator("#m_id").fill("12345")  # the browser itself refuses a short id number
    page.locator("#m_name").fill("X")
    page.locator("#m_dob").fill("1990-01-01")
    page.locator("#record").click()
    assert page.locator("#m_id").evaluate("(e) => !e.validity.valid")

    events = kiosk.passages()
    assert [(e.mode, e.kind, e.verdict, e.officer_id) for e in events] == [
        ("manual", "manual", "DENY", "CB-042"),
        ("manual", "manual", "PASS", "CB-042"),
    ]
    assert "flag_f0" in events[0].reasons and "manual_declaration" in events[1].reasons
    assert_stayed_local(screen_page, kiosk)


def test_personal_details_leave_the_page_after_the_hold_time(
    start_kiosk: Callable[..., Kiosk], screen_page: ScreenPage
) -> None:
    kiosk = start_kiosk("assisted", hold_s=2)
    page = screen_page.page
    page.goto(kiosk.url)

    kiosk.scan(AN)
    expect(page.locator("#name")).to_have_text("Nguyễn Văn An", timeout=WAIT_MS)
    expect(page.locator("#verdict")).to_have_class("idle", timeout=WAIT_MS)
    expect(page.locator("#subject")).to_be_hidden()
    assert_nothing_personal(page, AN_DETAILS)
    screen_page.screenshot("1-scan-expired")

    page.locator("#officer_id").fill("CB-042")
    page.locator("#m_id").fill(PAPER["id_number"])
    page.locator("#m_name").fill(PAPER["name"])
    page.locator("#m_dob").fill(PAPER["dob"])
    page.locator("#record").click()
    expect(page.locator("#name")).to_have_text(PAPER["name"], timeout=WAIT_MS)
    expect(page.locator("#verdict")).to_have_class("idle", timeout=WAIT_MS)
    assert_nothing_personal(page, (PAPER["name"], PAPER["dob"], PAPER["id_number"]))
    expect(page.locator("#officer_id")).to_have_value("CB-042")  # the officer stays signed in
    screen_page.screenshot("2-manual-expired")
    assert_stayed_local(screen_page, kiosk)


def tab_to(page: Page, element_id: str, limit: int = 30) -> None:
    """Press Tab until the element has focus (a date input has a stop per field on the way)."""
    for _ in range(limit):
        if page.evaluate("() => document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} is not reachable with the Tab key")


def test_every_button_is_reachable_and_operable_from_the_keyboard(
    start_kiosk: Callable[..., Kiosk], screen_page: ScreenPage
) -> None:
    kiosk = start_kiosk("assisted", hold_s=30)
    page = screen_page.page
    page.goto(kiosk.url)
    expect(page.locator("#officer")).to_be_visible()
    buttons = page.locator("button:visible").evaluate_all("(bs) => bs.map((b) => b.id)")
    assert len(buttons) == 4 and all(buttons), f"every button needs an id to be checked: {buttons}"

    # One full round of Tab from the top visits every button, each with a visible focus ring.
    reached: dict[str, float] = {}
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return [e.tagName, e.id, parseFloat(getComputedStyle(e).outlineWidth) || 0]; }"
        )
        if focused[0] == "BUTTON":
            reached[focused[1]] = focused[2]
    assert set(buttons) <= set(reached), f"not reachable with Tab: {set(buttons) - set(reached)}"
    assert all(width >= 2 for width in reached.values()), f"focus ring too thin: {reached}"

    kiosk.scan(AN)
    expect(page.locator("#verdict")).to_have_class("REVIEW", timeout=WAIT_MS)
    page.locator("body").focus()
    tab_to(page, "officer_id")
    page.keyboard.type("CB-7")
    tab_to(page, "confirm")
    page.keyboard.press("Enter")
    expect(page.locator("#officer_result")).to_have_text(CONFIRMED_VI)
    tab_to(page, "override_pass")
    page.keyboard.press("Enter")
    expect(page.locator("#verdict")).to_have_class("PASS", timeout=WAIT_MS)
    tab_to(page, "override_deny")
    page.keyboard.press("Enter")
    expect(page.locator("#verdict")).to_have_class("DENY", timeout=WAIT_MS)

    tab_to(page, "m_id")
    page.keyboard.type(PAPER["id_number"])
    tab_to(page, "m_name")
    page.keyboard.type(PAPER["name"])
    tab_to(page, "m_dob")
    page.locator("#m_dob").fill(PAPER["dob"])  # typing into a date field depends on the locale
    tab_to(page, "record")
    page.keyboard.press("Enter")
    expect(page.locator("#manual_result")).to_have_text(MANUAL_VI)
    screen_page.screenshot("keyboard-done")

    events = kiosk.passages()
    assert [(e.mode, e.verdict, e.officer_id, e.override) for e in events] == [
        ("assisted", "REVIEW", None, None),
        ("assisted", "REVIEW", "CB-7", False),
        ("assisted", "PASS", "CB-7", True),
        ("assisted", "DENY", "CB-7", True),
        ("manual", "PASS", "CB-7", None),
    ]
    assert_stayed_local(screen_page, kiosk)


def test_every_screen_state_has_large_verdict_text_with_enough_contrast(screen_page: ScreenPage) -> None:
    """Each state as the stylesheet paints it (idle too): >= 48 px verdict, contrast >= 4.5:1 (WCAG AA)."""
    server = ScreenServer(ScreenState(hold_s=30, assisted=True), port=0).start()
    try:
        page = screen_page.page
        page.goto(server.url)
        expect(page.locator("#verdict")).to_have_class("idle")
        for outcome in ("idle", "PASS", "DENY", "REVIEW"):
            page.locator("#verdict").evaluate("(e, c) => { e.className = c; }", outcome)
            for text in ("#headline", "#message", "#subline"):
                style = page.evaluate(CONTRAST_JS, [text, "#verdict"])
                assert style["ratio"] >= 4.5, (outcome, text, style)
            assert verdict_style(page)["fontPx"] >= 48, outcome
    finally:
        server.stop()


def test_requests_off_the_machine_are_aborted_and_reported(screen_page: ScreenPage) -> None:
    """The guard behind every `assert_stayed_local`: it does see (and stop) a request to elsewhere."""
    page = screen_page.page
    with page.expect_event("requestfailed") as failed:
        page.set_content('<img src="http://kiosk-cdn.invalid/logo.png">')
    assert failed.value.url == "http://kiosk-cdn.invalid/logo.png"
    assert screen_page.external == ["http://kiosk-cdn.invalid/logo.png"]
