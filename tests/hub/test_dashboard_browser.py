"""The operators' dashboard in headless Chromium, against a running hub on a real broker: login and
roles, the fleet as a real kiosk reports it, masked passages, a flag added from the page reaching the
kiosk, an audited trace, the daily report with its chart and CSV, keyboard use, contrast, no CDN."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from common.keyfiles import write_private_key
from hub.audit import audit_entries
from hub.config import load_hub_config
from hub.ingest import store_events
from hub.operators import set_operator
from hub.service import HubService
from kiosk.flagsync import FlagSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from testkit.hub_events import make_event
from testkit.linkrig import fast_link_config, wait_for
from testkit.services import MosquittoBroker
from tests.support.browser import CONTRAST_JS, ScreenPage

PASSWORD = "dashboard-password"
PERSON = "001234567890"
CONTACT = "079090000001"
NEW_F0 = "001199012345"


class Hub:
    def __init__(self, broker: MosquittoBroker, tmp_path: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.key = Ed25519PrivateKey.generate()
        write_private_key(tmp_path / "hub-signing.pem", self.key)
        config = tmp_path / "hub.toml"
        config.write_text(
            f'database_url = "sqlite:///{tmp_path / "hub.db"}"\n'
            f'signing_key = "{tmp_path / "hub-signing.pem"}"\n'
            f"[mqtt]\nport = {broker.port}\n[http]\nport = 0\n"
        )
        self.service = HubService(load_hub_config(config))
        for name, role in (("lan", "operator"), ("minh", "viewer"), ("an", "admin")):
            set_operator(self.service.db, name, role, PASSWORD, actor="test", now=dt.datetime.now(dt.UTC))
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()
        assert self.service.ready.wait(20)
        assert self.service.api is not None
        self.url = self.service.api.url
        self.seeded_day = dt.date.today()

    def stop(self) -> None:
        self.service.stop_event.set()
        self.thread.join(20)


@pytest.fixture
def hub(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Hub]:
    h = Hub(broker, tmp_path)
    today = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    store_events(
        h.service.db,
        [
            make_event(1, kiosk="kiosk-old", at=today, id_number=PERSON),
            make_event(2, kiosk="kiosk-old", at=today + dt.timedelta(minutes=5), id_number=CONTACT),
            make_event(
                3, kiosk="kiosk-old", at=today + dt.timedelta(minutes=9), verdict="DENY", id_number=None
            ),
        ],
        now=today,
    )
    h.seeded_day = (today + dt.timedelta(hours=7)).date()
    yield h
    h.stop()


def login(page: Page, url: str, user: str, password: str = PASSWORD) -> None:
    page.goto(url)
    page.locator("#username").fill(user)
    page.locator("#password").fill(password)
    page.locator("#password").press("Enter")  # the keyboard submits the form


def test_operator_sees_the_fleet_adds_a_flag_that_reaches_the_kiosk_and_traces(
    hub: Hub, broker: MosquittoBroker, tmp_path: Path, screen_page: ScreenPage
) -> None:
    store = KioskStore(tmp_path / "k.db")
    flags = FlagStore()
    link = KioskLink(
        fast_link_config(broker.port), "kiosk-live", store,
        hub_keys=[hub.key.public_key()], flags=FlagSync(store, flags).load(),
    ).start()  # fmt: skip
    page = screen_page.page
    try:
        login(page, hub.url, "lan", "wrong password!")
        expect(page.locator("#login-error")).not_to_be_empty()
        login(page, hub.url, "lan")
        expect(page.locator("#who")).to_have_text("lan (operator)")
        expect(page.locator("#fleet-table tbody")).to_contain_text("kiosk-live", timeout=15_000)
        expect(page.locator("#fleet-table tbody")).to_contain_text("trực tuyến")  # online, in Vietnamese
        screen_page.screenshot("fleet")

        page.locator(".tab[data-view=passages]").click()
        expect(page.locator("#passages-table tbody tr")).to_have_count(3)
        assert "NGUYEN" not in page.locator("#passages-table").inner_text()
        expect(page.locator("#passages-table")).to_contain_text("••••••••7890")

        page.locator(".tab[data-view=flags]").click()
        page.locator("#flag-target").fill(NEW_F0)
        page.locator("#flag-note").fill("lab result 12")
        page.locator("#flag-form button[type=submit]").click()
        expect(page.locator("#message")).to_contain_text("Đã gắn cờ")
        expect(page.locator("#flags-table tbody")).to_contain_text(NEW_F0)
        screen_page.screenshot("flag-added")
        wait_for(
            lambda: flags.person(NEW_F0, dt.datetime.now(dt.UTC)) is not None, 15, "the flag at the kiosk"
        )

        page.locator(".tab[data-view=trace]").click()
        page.locator("#trace-id").fill(PERSON)
        page.locator("#trace-window").fill("10")
        page.locator("#trace-form button[type=submit]").click()
        expect(page.locator("#trace-table tbody tr")).to_have_count(1)
        expect(page.locator("#contacts-table tbody")).to_contain_text(CONTACT)
        screen_page.screenshot("trace")
        traces = audit_entries(hub.service.db, action_prefix="trace")
        assert {(a["actor"], a["detail"]["id"]) for a in traces} == {("lan", PERSON)}

        page.locator(".tab[data-view=reports]").click()
        page.locator("#report-date").fill(hub.seeded_day.isoformat())  # the day in Vietnam (UTC+7)
        page.locator("#report-form button[type=submit]").click()
        expect(page.locator("#report-body svg.chart")).to_have_count(1)
        expect(page.locator("#report-body")).to_contain_text("cp-1")
        csv_url = page.locator("#report-csv").get_attribute("href")
        assert csv_url is not None
        csv = page.request.get(hub.url + csv_url)  # with the session cookie of the page
        assert csv.ok and csv.text().startswith("checkpoint_id,dimension,key,count")
        screen_page.screenshot("report")

        page.locator("#lang").click()
        expect(page.locator("h1")).to_have_text("Checkpoint dashboard")
        assert screen_page.external == []
        # Chromium logs every 401 answer (the page asks /me before login; one wrong password): nothing else
        assert [e for e in screen_page.console_errors if "401 (Unauthorized)" not in e] == []
    finally:
        link.stop()


def test_viewer_sees_no_flags_or_trace_and_the_api_refuses_them(hub: Hub, screen_page: ScreenPage) -> None:
    page = screen_page.page
    login(page, hub.url, "minh")
    expect(page.locator("#who")).to_have_text("minh (viewer)")
    expect(page.locator(".tab[data-view=flags]")).to_be_hidden()
    expect(page.locator(".tab[data-view=trace]")).to_be_hidden()
    expect(page.locator(".tab[data-view=audit]")).to_be_hidden()
    response = page.request.get(
        f"{hub.url}/api/v1/trace/person?id={PERSON}&from=2026-01-01T00:00Z&to=2027-01-01T00:00Z"
    )
    assert response.status == 403
    page.locator("#logout").click()
    expect(page.locator("#login-view")).to_be_visible()
    assert page.request.get(f"{hub.url}/api/v1/me").status == 401
    screen_page.screenshot("viewer-logged-out")


def test_dashboard_is_keyboard_usable_readable_and_self_contained(hub: Hub, screen_page: ScreenPage) -> None:
    page = screen_page.page
    page.goto(hub.url)
    expect(page.locator("#login-view")).to_be_visible()
    for _ in range(6):  # skip link, language, then the login form
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "username":
            break
    page.keyboard.type("lan")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_have_text("lan (operator)")
    reached = set()
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement.dataset.view || document.activeElement.id"))
    assert {"fleet", "passages", "flags", "trace", "reports", "logout", "lang"} <= reached
    page.locator(".tab[data-view=flags]").focus()
    page.keyboard.press("Enter")  # the flag form: labels, inputs and buttons on the page background
    expect(page.locator("#flag-form")).to_be_visible()
    for text, box in (
        ("h1", "header"),
        (".tab", "nav"),
        ("#flags-table th", "#flags-table th"),
        ("label", "main"),
    ):
        style = page.evaluate(CONTRAST_JS, [text, box])
        assert style["ratio"] >= 4.5, (text, style)
        assert style["fontPx"] >= 16, (text, style)
    assert screen_page.external == []
    assert all(u.startswith(hub.url) for u in screen_page.requested)
    screen_page.screenshot("keyboard")


def test_admin_reads_the_audit_log_of_traces(hub: Hub, screen_page: ScreenPage) -> None:
    page = screen_page.page
    login(page, hub.url, "lan")
    expect(page.locator(".tab[data-view=audit]")).to_be_hidden()  # operators trace; admins audit them
    page.locator(".tab[data-view=trace]").click()
    page.locator("#trace-id").fill(PERSON)
    page.locator("#trace-form button[type=submit]").click()
    expect(page.locator("#trace-table tbody tr")).to_have_count(1)
    page.locator("#logout").click()

    login(page, hub.url, "an")
    page.locator(".tab[data-view=audit]").click()
    page.locator("#audit-action").select_option("trace")
    page.locator("#audit-form button[type=submit]").click()
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(2)  # the person and the contacts query of one trace
    expect(rows.first).to_contain_text("lan")
    expect(rows.first).to_contain_text(PERSON)
    screen_page.screenshot("audit")
    assert screen_page.external == []


def test_a_held_off_login_says_how_long_to_wait(hub: Hub, screen_page: ScreenPage) -> None:
    """The login backoff's 429 is shown as such (with Retry-After's seconds), not as a wrong password."""
    page = screen_page.page
    page.goto(hub.url)
    codes = page.evaluate(
        """async () => {
          const codes = [];
          for (let i = 0; i < 10; i++) {
            const body = JSON.stringify({username: "lan", password: "guess " + i});
            const headers = {"Content-Type": "application/json"};
            const r = await fetch("/api/v1/login", {method: "POST", headers, body});
            codes.push(r.status);
          }
          return codes;
        }"""
    )
    assert 429 in codes and codes[0] == 401, codes
    login(page, hub.url, "lan")  # the right password, during the wait
    expect(page.locator("#login-error")).to_contain_text("Thử lại sau")
    assert re.search(r"\d+ giây", page.locator("#login-error").inner_text())
    expect(page.locator("#who")).not_to_contain_text("lan")


def test_anyone_logged_in_reads_the_health_rules_in_their_language(hub: Hub, screen_page: ScreenPage) -> None:
    from hub.rules import rule_set_from_paths, set_rules

    shipped = Path(__file__).resolve().parents[2] / "examples" / "rules" / "vietnam-2021.json"
    page = screen_page.page
    login(page, hub.url, "minh")  # a viewer
    page.locator(".tab[data-view=rules]").click()
    expect(page.locator("#rules-table tbody")).to_contain_text("Không có dữ liệu")  # nothing set yet
    set_rules(hub.service.db, rule_set_from_paths([shipped]), actor="lan", now=dt.datetime.now(dt.UTC))
    page.locator(".tab[data-view=fleet]").click()
    page.locator(".tab[data-view=rules]").click()
    expect(page.locator("#rules-table tbody tr")).to_have_count(12)
    expect(page.locator("#rules-version")).to_contain_text("1")
    expect(page.locator("#rules-table tbody")).to_contain_text("Kết quả xét nghiệm không âm tính")
    page.locator("#lang").click()
    expect(page.locator("#rules-table tbody")).to_contain_text("The test result is not negative")
    screen_page.screenshot("rules")
    assert screen_page.external == []
