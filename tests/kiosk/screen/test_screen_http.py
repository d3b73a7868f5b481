"""The kiosk screen over real HTTP: page and assets served locally, long-poll, officer actions."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from kiosk.screen.server import ActionRefused, ScreenServer
from kiosk.screen.state import ScreenState
from kiosk.verify.verdict import Outcome, PayloadKind, Subject, Verdict

VERDICT = Verdict(
    Outcome.REVIEW, PayloadKind.CCCD, ("identity_only",), "Gặp cán bộ", "See the officer",
    Subject("001099012345", "Nguyễn Văn An", "1999-01-01"),
)  # fmt: skip


def get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read(), r.headers["Content-Type"]


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served():
    actions: list[dict[str, Any]] = []

    def officer(body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("officer_id"):
            raise ActionRefused("officer_id is required")
        actions.append(body)
        return {"message": "ok"}

    state = ScreenState(hold_s=0.5, assisted=True)
    server = ScreenServer(state, port=0, on_officer=officer, on_manual=officer).start()
    yield server, state, actions
    server.stop()


def test_page_and_assets_are_served_locally(served) -> None:
    server, _, _ = served
    status, page, ctype = get(server.url)
    assert status == 200 and ctype.startswith("text/html")
    html = page.decode()
    assert 'lang="vi"' in html and "/static/app.js" in html
    assert "http://" not in html and "https://" not in html  # no CDN: kiosks are offline
    for asset in ("app.js", "style.css"):
        assert get(server.url + "static/" + asset)[0] == 200
    with pytest.raises(urllib.error.HTTPError):
        get(server.url + "static/../server.py")


def test_long_poll_returns_when_a_verdict_is_shown_and_personal_data_expires(served) -> None:
    server, state, _ = served
    first = json.loads(get(server.url + "api/state")[1])
    assert first["current"] is None
    threading.Timer(0.2, state.show, args=(VERDICT, "evt-1")).start()
    started = time.monotonic()
    shown = json.loads(get(server.url + f"api/state?since={first['version']}")[1])
    assert time.monotonic() - started < 5
    assert shown["current"]["outcome"] == "REVIEW"
    assert shown["current"]["subject"]["name"] == "Nguyễn Văn An"
    cleared = json.loads(get(server.url + f"api/state?since={shown['version']}")[1])
    assert cleared["current"] is None  # nothing personal stays on screen after the hold time


def test_self_service_screen_never_shows_personal_data() -> None:
    state = ScreenState(hold_s=5, assisted=False)
    state.show(VERDICT)
    assert state.snapshot()["current"]["subject"] is None


def test_officer_actions_reach_the_kiosk_and_bad_ones_are_refused(served) -> None:
    server, _, actions = served
    assert post(server.url + "api/officer", {"officer_id": "CB-7", "action": "confirm"}) == (
        200,
        {"message": "ok"},
    )
    code, body = post(server.url + "api/officer", {"action": "confirm"})
    assert code == 422 and "officer_id" in body["error"]
    assert actions == [{"officer_id": "CB-7", "action": "confirm"}]
