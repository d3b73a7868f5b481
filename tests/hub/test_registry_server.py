"""The registry double over plain HTTP, as `curl` or another team's client would see it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from common.config_errors import ConfigError
from hub.config import load_hub_config
from hub.registry.client import RegistryClient
from hub.registry.policy import Outcome, classify
from testkit.hub_events import make_event
from testkit.registry_server import RegistryServer
from testkit.services import free_port, wait_for_port

TOKEN = "s3cret"


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with RegistryServer(token=TOKEN) as server:
        yield server


def test_wrong_token_is_401(registry: RegistryServer) -> None:
    assert RegistryClient(registry.url, "nope").post_passages([make_event(1)], "k").status == 401
    assert registry.state.events == {}


def test_key_and_event_deduplication(registry: RegistryServer) -> None:
    c = RegistryClient(registry.url, TOKEN)
    a, b = make_event(1), make_event(2)
    assert c.post_passages([a], "k1").status == 201
    assert c.post_passages([a], "k1").status == 409  # same key
    assert c.post_passages([a], "k2").status == 409  # all events known
    reply = c.post_passages([a, b], "k3")
    assert reply.status == 201 and json.loads(reply.body) == {"accepted": 1, "duplicates": 1}
    assert registry.state.arrivals == [a["event_id"], b["event_id"]]


def test_bad_requests_are_400(registry: RegistryServer) -> None:
    req = urllib.request.Request(
        registry.url + "/v1/passages",
        data=b'{"not": "an array"}',
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "k"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400


def test_flags_since_version(registry: RegistryServer) -> None:
    registry.state.add_flag("001234567890", "F0")
    registry.state.add_flag("009876543210", "F1")
    registry.state.add_flag("001234567890", "F0", lifted=True)
    reply = RegistryClient(registry.url, TOKEN).get_flags(since=1)
    body = json.loads(reply.body)
    assert reply.status == 200 and body["version"] == 3
    assert [(c["version"], c["target"], c["lifted"]) for c in body["changes"]] == [
        (2, "009876543210", False),
        (3, "001234567890", True),
    ]


def test_admin_faults_over_http(registry: RegistryServer) -> None:
    ev = make_event(1)
    admin = urllib.request.Request(
        registry.url + "/admin/faults",
        data=json.dumps({"reject": {ev["event_id"]: [422, "bad id"]}}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(admin, timeout=5) as resp:
        assert resp.status == 200
    reply = RegistryClient(registry.url, TOKEN).post_passages([ev], "k")
    assert reply.status == 422 and json.loads(reply.body)["error"] == "bad id"


def test_runs_as_a_module(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkit.registry_server", "--port", str(port), "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=10)
        assert (
            RegistryClient(f"http://127.0.0.1:{port}", TOKEN).post_passages([make_event(1)], "k").status
            == 201
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Recorder(BaseHTTPRequestHandler):
    """Another server on another port: records whatever reaches it (it should be nothing)."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer


def test_the_token_never_follows_a_redirect(registry: RegistryServer) -> None:
    """Was: urllib followed the 307 and re-sent `Authorization: Bearer ...` to the other port."""
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        registry.state.set_faults(redirect_to=f"http://127.0.0.1:{other.server_address[1]}")
        client = RegistryClient(registry.url, TOKEN)
        posted = client.post_passages([make_event(1)], "k")
        flags = client.get_flags(since=0)
    finally:
        other.shutdown()
        other.server_close()
    assert _Recorder.seen == []
    assert posted.status == 307 and flags.status == 307
    assert posted.error is not None and "redirect" in posted.error and "registry.url" in posted.error
    assert classify(posted.status) == Outcome.RETRY  # kept in the outbox until the URL is fixed
    assert registry.state.events == {}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://registry.example.gov.vn", True),
        ("https://10.0.0.5:8443/base", True),
        ("http://127.0.0.1:9000", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000", True),
        ("http://registry.example.gov.vn", False),
        ("http://10.0.0.5:9000", False),
        ("ftp://registry.example.gov.vn", False),
        ("https://user:pw@registry.example.gov.vn", False),
        ("registry.example.gov.vn", False),
    ],
)
def test_the_registry_url_must_be_https_except_to_loopback(url: str, allowed: bool, tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'signing_key = "{tmp_path / "k.pem"}"\n[registry]\nurl = "{url}"\ntoken_file = "{tmp_path / "t"}"\n'
    )
    if allowed:
        assert load_hub_config(config).registry is not None
        assert RegistryClient(url, TOKEN).base_url == url
    else:
        with pytest.raises(ConfigError) as err:
            load_hub_config(config)
        assert "registry.url" in str(err.value)
        with pytest.raises(ValueError):
            RegistryClient(url, TOKEN)


def test_an_oversized_registry_reply_is_not_read_whole(registry: RegistryServer) -> None:
    """Was: whatever the registry sent was read and decoded in full."""
    for i in range(200):
        registry.state.add_flag(f"{i:012d}", "F1", note="x" * 100)
    small = RegistryClient(registry.url, TOKEN, max_reply_bytes=4096).get_flags(since=0)
    assert small.status is None and small.error is not None and "4096" in small.error
    assert json.loads(RegistryClient(registry.url, TOKEN).get_flags(since=0).body)["version"] == 200
