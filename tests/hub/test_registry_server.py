"""The registry double over plain HTTP, as `curl` or another team's client would see it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.registry.client import RegistryClient
from hub.registry.server import RegistryServer
from tests.hub.factory import make_event
from tests.support.services import free_port, wait_for_port

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
        [sys.executable, "-m", "hub.registry.server", "--port", str(port), "--token", TOKEN],
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
