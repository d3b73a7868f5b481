"""Headless Chromium for the kiosk screen tests: Debian's `chromium` driven by Playwright for Python.

Nothing is downloaded: Playwright launches the system browser (`executable_path`), never one of its
own (`playwright install` needs the internet, which kiosks and CI do not have). A missing browser or
driver FAILS the test with what to install; it is never a silent skip (scripts/test installs both).

Every page is opened in a context that lets requests reach the loopback interface only: anything
else is aborted and listed in `ScreenPage.external`, so a test can assert that the page is
self-contained, as it must be on an offline kiosk.

Screenshots go to $KIOSK_TEST_ARTIFACTS or tests/artifacts/ (git-ignored; CI keeps the folder),
one per named step, plus one when a browser test fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/lib/chromium/chromium")
# Any URL but http(s) to the loopback interface (the kiosk screen is served on 127.0.0.1).
NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/)")
VIEWPORT = {"width": 1024, "height": 600}  # a common kiosk panel (7"-10" touch screens)

# WCAG contrast of a text element against the first opaque background behind a box element; font size.
CONTRAST_JS = """
([textSel, boxSel]) => {
  const parse = (c) => {
    const m = c.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let el = document.querySelector(boxSel), bg = [0, 0, 0, 0];
  while (el) {  // the first opaque background up the tree is what the text is painted on
    bg = parse(getComputedStyle(el).backgroundColor);
    if (bg[3] >= 1) break;
    el = el.parentElement;
  }
  if (bg[3] < 1) bg = [255, 255, 255, 1];
  const text = getComputedStyle(document.querySelector(textSel));
  const fg = parse(text.color);
  const a = fg[3] * parseFloat(text.opacity);  // translucent text blends into the background
  const blended = [0, 1, 2].map((i) => fg[i] * a + bg[i] * (1 - a));
  const [l1, l2] = [lum(blended), lum(bg)].sort((x, y) => y - x);
  return { ratio: (l1 + 0.05) / (l2 + 0.05), fontPx: parseFloat(text.fontSize), bg: bg.slice(0, 3) };
}
"""


def find_chromium() -> str:
    """The system Chromium: $KIOSK_CHROMIUM, else Debian's `chromium` on PATH. Fails the test if absent."""
    wanted = os.environ.get("KIOSK_CHROMIUM")
    candidates = (wanted,) if wanted else CHROMIUM_CANDIDATES
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        f"no Chromium found (looked for {', '.join(candidates)}): the screen tests need a real browser. "
        "Install Debian's package: `apt-get install chromium` (scripts/test does it), "
        "or point KIOSK_CHROMIUM at a Chromium binary. Never `playwright install`: it downloads a browser.",
        pytrace=False,
    )


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("KIOSK_TEST_ARTIFACTS") or REPO_ROOT / "tests" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class ScreenPage:
    """A browser page with the loopback-only guard and a screenshot helper named after the test."""

    page: Page
    test_name: str
    external: list[str] = field(default_factory=list)  # requests that tried to leave the machine
    requested: list[str] = field(default_factory=list)  # every request the page made
    console_errors: list[str] = field(default_factory=list)

    def screenshot(self, step: str) -> Path:
        path = artifacts_dir() / "screen" / f"{self.test_name}--{step}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless system Chromium for the session (each test gets its own context)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is not installed: `pip install -e '.[test]'` (scripts/test does it). "
            "Only the Python package is needed: the browser is Debian's chromium.",
            pytrace=False,
        )
    executable = find_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screen_page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[ScreenPage]:
    """A fresh page (Vietnamese locale, kiosk-sized) that may talk to the loopback interface only."""
    context = chromium.new_context(viewport=VIEWPORT, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(10_000)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for stale in (artifacts_dir() / "screen").glob(f"{name}--*.png"):
        stale.unlink()  # screenshots of an earlier run of this test would mislead
    page = context.new_page()
    screen = ScreenPage(page, name)

    def refuse(route: Any) -> None:
        screen.external.append(route.request.url)
        route.abort()

    # The pattern is matched inside the browser: loopback requests never wait for this (blocked)
    # Python thread, which serves route handlers only while it is itself in a Playwright call.
    context.route(NOT_LOOPBACK, refuse)
    page.on("request", lambda r: screen.requested.append(r.url))
    page.on("console", lambda m: screen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: screen.console_errors.append(str(exc)))
    try:
        yield screen
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            screen.screenshot("FAILED")
    finally:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keeps each phase's report on the test item, so `screen_page` can screenshot a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
