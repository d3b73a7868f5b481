"""The screen fits the Pi's displays without scrolling: the official 7" touch display (800x480) and 1024x600.

A kiosk screen has no scroll bar anyone would find: whatever is below the fold does not exist for the
officer (issue 15: the officer's panel was below it at 800x480). Each verdict (and the idle screen), in
both modes, is shown by a real ScreenServer in headless Chromium with the longest texts it can get (the
officer-override reason plus the two longest messages of the catalogue, a long name, the officer's
status lines filled by real answers), and the page must then: not scroll either way; hold every
visible element inside the viewport with no text spilling out of its box; keep the verdict column and
the officer's column apart; give every button and field a touch target of at least 44x44 px; keep the
verdict headline at 48 px or more. Screenshots: tests/artifacts/screen/fit-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from kiosk.screen.server import ScreenServer
from kiosk.screen.state import ScreenState
from kiosk.verify.messages import MESSAGES, describe
from kiosk.verify.verdict import Outcome, PayloadKind, Subject, Verdict
from tests.support.browser import artifacts_dir

SIZES = {"pi-7in-800x480": (800, 480), "panel-1024x600": (1024, 600)}
TOUCH_PX = 44  # the smallest comfortable target for a finger (WCAG 2.5.5, Apple HIG)
CONTROLS = {"officer_id", "confirm", "override_pass", "override_deny", "m_id", "m_name", "m_dob", "record"}
LONG_NAME = "Tôn Nữ Thị Phương Thảo Nguyên Anh"


def longest_reasons() -> tuple[str, ...]:
    """An officer's override of a verdict with the two longest messages (each language) of the catalogue."""
    vi = max(MESSAGES, key=lambda code: len(MESSAGES[code][0]))
    en = max((c for c in MESSAGES if c != vi), key=lambda code: len(MESSAGES[code][1]))
    return ("officer_override", vi, en)


# Every visible element: inside the viewport, its content inside its box (inline boxes excepted, their
# text is measured by their block parent), controls at least TOUCH_PX each way.
FIT_JS = """
(touchPx) => {
  const vw = window.innerWidth, vh = window.innerHeight, doc = document.documentElement;
  const name = (e) =>
    e.id ? "#" + e.id : e.tagName.toLowerCase() + " " + JSON.stringify(e.textContent.slice(0, 24));
  const box = (r) => [r.left, r.top, r.right, r.bottom].map(Math.round);
  const report = { scroll: [doc.scrollWidth, doc.scrollHeight, vw, vh], outside: [], spilling: [], small: [],
                   controls: [], rects: {} };
  for (const e of document.body.querySelectorAll("*")) {
    if (e.tagName === "SCRIPT" || e.getClientRects().length === 0) continue;  // not rendered
    const r = e.getBoundingClientRect();
    if (e.id) report.rects[e.id] = box(r);
    if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5)
      report.outside.push([name(e), box(r)]);
    if (e.tagName !== "INPUT" && e.clientHeight > 0 &&
        (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1))
      report.spilling.push([name(e), [e.scrollWidth, e.scrollHeight], [e.clientWidth, e.clientHeight]]);
    if (e.matches("button, input, select, textarea")) {
      report.controls.push(e.id);
      if (r.width < touchPx || r.height < touchPx) report.small.push([name(e), box(r)]);
    }
  }
  report.headlinePx = parseFloat(getComputedStyle(document.getElementById("headline")).fontSize);
  return report;
}
"""


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def touch_page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    width, height = SIZES[request.param]
    context = chromium.new_context(
        viewport={"width": width, "height": height},
        has_touch=True,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def show_longest(state: ScreenState, outcome: str) -> None:
    reasons = longest_reasons()
    vi, en = describe(reasons)
    subject = Subject(id_number="001099012345", name=LONG_NAME, dob="1999-01-01")
    state.show(Verdict(Outcome(outcome), PayloadKind.CCCD, reasons, vi, en, subject), event_id="e-1")


def fill_officer_lines(page: Page) -> None:
    """Fill the officer's column as in use: officer id, the paper form, both status lines (real answers:
    this server has no officer actions wired, so it refuses them with its own message)."""
    page.locator("#officer_id").fill("CB-042")
    page.locator("#confirm").click()  # idle: "nothing to confirm", said by the page itself
    expect(page.locator("#officer_result")).not_to_be_empty()
    page.locator("#m_id").fill("001199012345")
    page.locator("#m_name").fill(LONG_NAME)
    page.locator("#m_dob").fill("1999-02-02")
    page.locator("#record").click()
    expect(page.locator("#manual_result")).to_contain_text("assisted mode only")


def assert_fits(page: Page, assisted: bool) -> None:
    report: dict[str, Any] = page.evaluate(FIT_JS, TOUCH_PX)
    width, height, vw, vh = report["scroll"]
    assert height <= vh and width <= vw, f"the page scrolls: content {width}x{height} in a {vw}x{vh} screen"
    assert report["outside"] == [], f"partly or wholly off screen: {report['outside']}"
    assert report["spilling"] == [], f"content spills out of its box: {report['spilling']}"
    assert report["small"] == [], f"touch targets under {TOUCH_PX} px: {report['small']}"
    assert report["headlinePx"] >= 48, report["headlinePx"]
    rects = report["rects"]
    for required in ("verdict", "headline", "subline"):
        assert required in rects, f"#{required} is not shown"
    if assisted:
        assert set(report["controls"]) == CONTROLS, report["controls"]  # every control was measured
        assert rects["verdict"][2] <= rects["officer"][0], f"the columns overlap: {rects}"
    else:
        assert report["controls"] == [] and "officer" not in rects, report["controls"]


@pytest.mark.parametrize("outcome", ["idle", "PASS", "DENY", "REVIEW"])
@pytest.mark.parametrize("mode", ["assisted", "self"])
def test_every_verdict_fits_the_screen_without_scrolling(touch_page: Page, outcome: str, mode: str) -> None:
    assisted = mode == "assisted"
    state = ScreenState(hold_s=300, assisted=assisted)
    server = ScreenServer(state, port=0).start()
    try:
        page = touch_page
        if outcome != "idle":
            show_longest(state, outcome)
        page.goto(server.url)
        expect(page.locator("#verdict")).to_have_class(outcome)
        if assisted:
            expect(page.locator("#officer")).to_be_visible()
            if outcome != "idle":
                expect(page.locator("#name")).to_have_text(LONG_NAME)
            fill_officer_lines(page)
        else:
            expect(page.locator("#officer")).to_be_hidden()
        size = page.viewport_size
        assert size is not None
        shot = artifacts_dir() / "screen" / f"fit-{size['width']}x{size['height']}-{mode}-{outcome}.png"
        page.screenshot(path=str(shot))
        assert_fits(page, assisted)
    finally:
        server.stop()


def test_the_fit_check_sees_a_page_that_scrolls(touch_page: Page) -> None:
    """The guard itself: the page as it was before (officer panel stacked under the verdict) fails it."""
    state = ScreenState(hold_s=300, assisted=True)
    server = ScreenServer(state, port=0).start()
    try:
        show_longest(state, "REVIEW")
        touch_page.goto(server.url)
        expect(touch_page.locator("#name")).to_have_text(LONG_NAME)
        touch_page.evaluate("() => Object.assign(document.body.style, { display: 'block', height: 'auto' })")
        with pytest.raises(AssertionError, match="the page scrolls"):
            assert_fits(touch_page, assisted=True)
    finally:
        server.stop()
