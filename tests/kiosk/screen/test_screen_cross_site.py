"""Other web pages against the kiosk screen, in a real headless Chromium and over plain HTTP.

The screen listens on 127.0.0.1, which every page the kiosk's (or an officer's) browser opens can reach.
Was: a cross-site `text/plain` POST recorded an officer override, and a page whose own name resolved to
127.0.0.1 (DNS rebinding; Chromium resolves `*.localhost` there itself, so no DNS server is needed to
show it) read the id number, name and date of birth from `/api/state`.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser

from kiosk.screen.server import ScreenServer
from kiosk.screen.state import ScreenState
from tests.kiosk.screen.test_screen_http import VERDICT
from tests.support.browser import VIEWPORT

NAME = VERDICT.subject.name if VERDICT.subject else ""


@pytest.fixture
def screen() -> Iterator[tuple[ScreenServer, list[dict[str, Any]]]]:
    """An assisted screen showing a verdict with personal details; officer actions are recorded."""
    actions: list[dict[str, Any]] = []

    def officer(body: dict[str, Any]) -> dict[str, Any]:
        actions.append(body)
        return {"message": "ok"}

    state = ScreenState(hold_s=300, assisted=True)
    state.show(VERDICT, "evt-1")
    server = ScreenServer(state, port=0, on_officer=officer, on_manual=officer).start()
    try:
        yield server, actions
    finally:
        server.stop()


ATTACK_PAGE = """<!doctype html><html><body><script>
const target = %(target)s;
const body = JSON.stringify({officer_id: "X", action: "override", verdict: "PASS", event_id: "evt-1"});
window.results = [];
Promise.allSettled([
  // a "simple" request: no preflight, the browser sends it and hides the answer (CSRF)
  fetch(target + "api/officer",
        {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body})
    .then(() => "sent"),
  // JSON needs a preflight the screen never grants
  fetch(target + "api/officer", {method: "POST", headers: {"Content-Type": "application/json"}, body})
    .then((r) => "status " + r.status),
  // a form post: text/plain bodies look like JSON with a trailing "="
  new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "sink";
    frame.onload = () => resolve("form sent");
    document.body.appendChild(frame);
    const form = document.createElement("form");
    form.method = "POST"; form.action = target + "api/officer"; form.enctype = "text/plain";
    form.target = "sink";
    const input = document.createElement("input");
    input.name = body.slice(0, -1); input.value = "}";
    form.appendChild(input); document.body.appendChild(form); form.submit();
  }),
]).then((all) => {
  window.results = all.map((r) => r.status + ":" + (r.value || r.reason));
  window.done = true;
});
</script></body></html>"""


@pytest.fixture
def attacker(screen: tuple[ScreenServer, list[dict[str, Any]]]) -> Iterator[str]:
    """Another origin on the same machine (another port, another name): a page that attacks the screen."""
    page = (ATTACK_PAGE % {"target": json.dumps(screen[0].url)}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_from_another_origin_cannot_record_an_override(
    chromium: Browser,
    screen: tuple[ScreenServer, list[dict[str, Any]]],
    attacker: str,
) -> None:
    _, actions = screen
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(attacker)
        page.wait_for_function("window.done === true", timeout=10_000)
        results = page.evaluate("window.results")
    finally:
        context.close()
    assert results[0] == "fulfilled:sent" and results[2] == "fulfilled:form sent", results  # they did go out
    assert actions == [], f"a cross-site request was recorded as an officer action: {actions}"


def test_a_rebound_name_cannot_read_the_screen(
    chromium: Browser,
    screen: tuple[ScreenServer, list[dict[str, Any]]],
) -> None:
    server, _ = screen
    port = server.httpd.server_address[1]
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        # The attacker's page, served (as far as the browser knows) by the attacker's own name.
        response = page.goto(f"http://rebind.localhost:{port}/")
        assert response is not None and response.status == 403
        answer = page.evaluate(
            "() => fetch('/api/state').then(async (r) => ({status: r.status, text: await r.text()}))"
        )
        # The kiosk's own page, by its own name, still works.
        own = context.new_page()
        assert (own.goto(server.url) or pytest.fail("no response")).status == 200
        state = own.evaluate("() => fetch('/api/state').then((r) => r.json())")
    finally:
        context.close()
    assert answer["status"] == 403 and NAME not in answer["text"], answer
    assert state["current"]["subject"]["name"] == NAME


# -- the same rules over plain HTTP (any client can set any header) -------------------------------------


def request(
    server: ScreenServer, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


OVERRIDE = json.dumps(
    {"officer_id": "X", "action": "override", "verdict": "PASS", "event_id": "evt-1"}
).encode()


def test_posts_must_be_json_from_this_origin_to_this_host(
    screen: tuple[ScreenServer, list[dict[str, Any]]],
) -> None:
    server, actions = screen
    port = server.httpd.server_address[1]
    own = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json"}
    refused = [
        ({**own, "Content-Type": "text/plain"}, 415),
        ({**own, "Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({**own, "Origin": "http://evil.example"}, 403),
        ({**own, "Origin": "null"}, 403),
        ({**own, "Origin": f"http://127.0.0.1:{port + 1}"}, 403),
        ({**own, "Host": f"evil.example:{port}"}, 403),
        ({**own, "Host": f"127.0.0.1:{port + 1}"}, 403),
        ({"Content-Type": "application/json"}, 403),  # no Host at all
    ]
    for headers, status in refused:
        assert request(server, "POST", "/api/officer", headers, OVERRIDE)[0] == status, headers
    assert actions == []
    for headers in (
        own,
        {**own, "Origin": f"http://127.0.0.1:{port}"},
        {**own, "Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
        {**own, "Host": f"[::1]:{port}", "Content-Type": "application/json; charset=utf-8"},
    ):
        assert request(server, "POST", "/api/officer", headers, OVERRIDE) == (200, {"message": "ok"}), headers
    assert len(actions) == 4


def test_state_is_served_only_to_this_host(screen: tuple[ScreenServer, list[dict[str, Any]]]) -> None:
    server, _ = screen
    port = server.httpd.server_address[1]
    code, body = request(server, "GET", "/api/state", {"Host": f"attacker.example:{port}"})
    assert code == 403 and NAME not in json.dumps(body, ensure_ascii=False)
    code, body = request(server, "GET", "/api/state", {"Host": f"127.0.0.1:{port}"})
    assert code == 200 and body["current"]["subject"]["name"] == NAME


def test_configured_names_are_allowed_too() -> None:
    state = ScreenState(hold_s=300, assisted=True)
    state.show(VERDICT, "evt-1")
    server = ScreenServer(state, host="127.0.0.1", port=0, allowed_hosts=["kiosk-7.lan"]).start()
    try:
        port = server.httpd.server_address[1]
        assert request(server, "GET", "/api/state", {"Host": f"kiosk-7.lan:{port}"})[0] == 200
        assert request(server, "GET", "/api/state", {"Host": f"kiosk-8.lan:{port}"})[0] == 403
    finally:
        server.stop()
