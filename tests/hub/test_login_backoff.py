"""Guessing passwords over the API: backoff per account and per address with a 429 and Retry-After,
audited; the same scrypt work whether or not the account exists. Time is moved, never slept."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from hub.api import API, ApiSettings, create_app
from hub.audit import audit_entries
from hub.db import Database
from hub.http_server import ApiServer
from hub.login_guard import ACCOUNT, ADDRESS
from hub.operators import _DUMMY_HASH, _SCRYPT, check_password, disable_operator, login, set_operator
from testkit.hub_events import T0
from tests.hub.test_api import PASSWORD, Client


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@pytest.fixture
def api(db: Database) -> Iterator[tuple[str, Clock]]:
    set_operator(db, "op", "operator", PASSWORD, actor="test", now=T0)
    clock = Clock()
    server = ApiServer(create_app(db, ApiSettings(clock=clock))).start()
    try:
        yield server.url, clock
    finally:
        server.stop()


def attempt(client: Client, username: str, password: str) -> tuple[int, Any, str | None]:
    """Status, body and Retry-After of one login (the Client helper drops headers, so read them here)."""
    body = json.dumps({"username": username, "password": password}).encode()
    req = urllib.request.Request(f"{client.base}{API}/login", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Retry-After")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers.get("Retry-After")


def test_guessing_an_account_is_held_off_with_429_then_released(api: tuple[str, Clock], db: Database) -> None:
    url, clock = api
    client = Client(url)
    # The free failures: a plain 401 each time.
    for _ in range(ACCOUNT.free):
        assert attempt(client, "op", "wrong password!")[0] == 401
        clock.advance(dt.timedelta(milliseconds=10))
    # One more starts the wait; during it even the right password is not looked at.
    assert attempt(client, "op", "wrong password!")[0] == 401
    code, body, retry = attempt(client, "op", PASSWORD)
    assert code == 429, body
    assert retry is not None and int(retry) >= 1
    assert "too many failed logins" in body["detail"]
    # Ten minutes of 429s never add up to a successful guess (was: 60 wrong then a right one all answered).
    for _ in range(60):
        assert attempt(client, "op", PASSWORD)[0] == 429

    clock.advance(dt.timedelta(seconds=int(retry)))
    assert attempt(client, "op", "still wrong!!")[0] == 401  # the wait has passed; the next one doubles
    code, _, retry2 = attempt(client, "op", PASSWORD)
    assert code == 429 and retry2 is not None and int(retry2) > int(retry)
    clock.advance(dt.timedelta(seconds=int(retry2)))
    code, body, _ = attempt(client, "op", PASSWORD)
    assert code == 200, body
    # Success resets the account's count: a typo afterwards is a plain 401 again.
    assert attempt(client, "op", "typo password")[0] == 401
    assert attempt(client, "op", PASSWORD)[0] == 200

    locked = audit_entries(db, action_prefix="login.locked")
    assert locked and all(e["actor"] == "op" for e in locked)
    assert {e["detail"]["scope"] for e in locked} == {"account"}
    assert all(e["detail"]["address"] == "127.0.0.1" for e in locked)
    refused = audit_entries(db, action_prefix="login.refused")
    assert all(e["detail"].get("address") == "127.0.0.1" for e in refused)


def test_unknown_accounts_are_held_off_exactly_like_real_ones(api: tuple[str, Clock]) -> None:
    url, clock = api
    client = Client(url)
    answers = {}
    for name in ("op", "nobody"):
        answers[name] = [attempt(client, name, "wrong password!")[0] for _ in range(ACCOUNT.free + 2)]
        clock.advance(ADDRESS.forget_after)  # keep the address count out of it
        clock.advance(ACCOUNT.max_wait)
    assert answers["op"] == answers["nobody"] == [401] * (ACCOUNT.free + 1) + [429]


def test_one_address_trying_many_names_is_held_off(api: tuple[str, Clock]) -> None:
    url, clock = api
    client = Client(url)
    codes = [attempt(client, f"user{i}", "wrong password!")[0] for i in range(ADDRESS.free + 1)]
    assert codes == [401] * (ADDRESS.free + 1)
    code, _, retry = attempt(client, "op", PASSWORD)  # a fresh name, the right password: same address
    assert code == 429 and retry is not None
    clock.advance(dt.timedelta(seconds=int(retry)))
    assert attempt(client, "op", PASSWORD)[0] == 200


def test_the_wait_is_capped_and_forgotten(api: tuple[str, Clock]) -> None:
    url, clock = api
    client = Client(url)
    for _ in range(ACCOUNT.free + 30):  # far past the point where the doubling reaches the ceiling
        code, _, retry = attempt(client, "op", "wrong password!")
        if code == 429:
            assert retry is not None and int(retry) <= ACCOUNT.max_wait.total_seconds()
            clock.advance(dt.timedelta(seconds=int(retry)))
    assert ACCOUNT.wait_after(ACCOUNT.free + 30) == ACCOUNT.max_wait
    clock.advance(ACCOUNT.forget_after + ACCOUNT.max_wait)
    assert [attempt(client, "op", "wrong password!")[0] for _ in range(ACCOUNT.free)] == [401] * ACCOUNT.free


def test_login_runs_scrypt_once_whether_or_not_the_account_exists(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_operator(db, "op", "operator", PASSWORD, actor="test", now=T0)
    set_operator(db, "gone", "viewer", PASSWORD, actor="test", now=T0)
    disable_operator(db, "gone", actor="test", now=T0)
    calls: list[dict[str, Any]] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    for username, password in (
        ("op", PASSWORD),
        ("op", "wrong password"),
        ("nobody", "x" * 12),
        ("gone", PASSWORD),
    ):
        calls.clear()
        with contextlib.suppress(PermissionError):
            login(db, username, password, now=T0)
        params = [(c["n"], c["r"], c["p"]) for c in calls]
        assert params == [(_SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"])], (username, params)
    # The stand-in hash is a well-formed hash with the same cost as a real one, and matches nothing usual.
    assert _DUMMY_HASH.split("$")[1:4] == [str(_SCRYPT[k]) for k in ("n", "r", "p")]
    assert not check_password("x" * 12, _DUMMY_HASH)
