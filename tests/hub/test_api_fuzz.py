"""Property-based fuzzing of the operators' API from its own OpenAPI document (schemathesis): whatever an
operator's client sends, valid or not, the hub answers with a status and a body its schema allows, never
a 5xx. The database holds a row of each kind the answers list, so the bodies are checked with content."""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from hub.api import ApiSettings, create_app
from hub.db import open_database
from hub.flags import add_flag, dead_letter_change
from hub.fleet import record_status
from hub.ingest import store_events
from hub.login_guard import ACCOUNT, LoginGuard
from hub.operators import login, set_operator
from hub.schema import migrate
from testkit.hub_events import T0, make_event

PASSWORD = "fuzzing-password-1"
TOKEN: dict[str, str] = {}
GUARD = LoginGuard()  # the fuzzed app's login backoff, so a test can put an account in its wait


def _fuzz_target() -> Any:
    """A hub database of its own for the fuzzer (schemathesis loads the schema when the module loads)."""
    folder = Path(tempfile.mkdtemp(prefix="hub-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    db = open_database(f"sqlite:///{folder / 'hub.db'}")
    migrate(db, T0)
    now = dt.datetime.now(dt.UTC)
    set_operator(db, "admin", "admin", PASSWORD, actor="test", now=now)
    store_events(db, [make_event(i) for i in range(1, 6)], now=T0)
    add_flag(db, "001234567890", "F1", starts_at=T0, ends_at=None, actor="test", now=T0, note="fuzz")
    with db.begin() as conn:
        dead_letter_change(conn, "registry", 7, {"target": "12345"}, "target is not 12 digits", T0)
    record_status(db, "kiosk-1", {"state": "online", "version": "1.4", "backlog": 2}, now=T0)
    TOKEN["admin"] = login(db, "admin", PASSWORD, now=now)[0]
    return schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", create_app(db, ApiSettings(login_guard=GUARD))
    )


schema = _fuzz_target()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN['admin']}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_a_held_off_login_answers_the_documented_429() -> None:
    """The backoff's 429 (with Retry-After) is in the OpenAPI document: the fuzzer, which sends logins
    too, would otherwise fail status_code_conformance as soon as it tripped the backoff."""
    now = dt.datetime.now(dt.UTC)
    for _ in range(ACCOUNT.free + 3):
        GUARD.failed("guessed", "elsewhere", now)
    case = schema["/api/v1/login"]["POST"].Case(body={"username": "guessed", "password": PASSWORD})
    response = case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance]
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"][0]) >= 1
    documented = schema.raw_schema["paths"]["/api/v1/login"]["post"]["responses"]["429"]
    assert "Retry-After" in documented["headers"]
