"""The operators' HTTP API over a real socket (uvicorn), on both database backends: sessions, roles,
audited traces, flags, reports, and an OpenAPI document that matches the routes."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from hub.api import API, ApiSettings, create_app
from hub.audit import audit_entries
from hub.db import Database, to_db_time
from hub.fleet import record_status
from hub.http_server import ApiServer
from hub.ingest import store_events
from hub.operators import set_operator
from hub.rules import rule_set_from_paths, set_rules
from testkit.hub_events import T0, make_event

ROOT = Path(__file__).resolve().parents[2]
PERSON = "001234567890"
CONTACT = "079090000001"
PASSWORD = "a long enough password"


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, code, ctype = resp.read(), resp.status, resp.headers.get("content-type", "")
        except urllib.error.HTTPError as err:
            raw, code, ctype = err.read(), err.code, err.headers.get("content-type", "")
        if "json" in ctype and raw:
            return code, json.loads(raw)
        return code, raw.decode()

    def login(self, username: str, password: str = PASSWORD) -> Client:
        code, body = self.call("POST", f"{API}/login", {"username": username, "password": password})
        assert code == 200, body
        self.token = body["token"]
        return self


@pytest.fixture
def hub(db: Database) -> Iterator[tuple[str, threading.Event]]:
    for name, role in (("vy", "viewer"), ("op", "operator"), ("ad", "admin")):
        set_operator(db, name, role, PASSWORD, actor="test", now=T0)
    batch = [
        make_event(1, at=T0, id_number=PERSON),
        make_event(2, at=T0 + dt.timedelta(minutes=10), id_number=CONTACT),
        make_event(3, at=T0 + dt.timedelta(minutes=20), verdict="DENY", id_number=None),
    ]
    store_events(db, batch, now=T0)
    changed = threading.Event()
    settings = ApiSettings(stale_after_s=60, on_flags_changed=changed.set)
    server = ApiServer(create_app(db, settings)).start()
    try:
        yield server.url, changed
    finally:
        server.stop()


def test_sessions_and_roles(hub: tuple[str, threading.Event], db: Database) -> None:
    url, _ = hub
    anonymous = Client(url)
    assert anonymous.call("GET", f"{API}/health")[0] == 200
    assert anonymous.call("GET", f"{API}/kiosks")[0] == 401
    code, _ = anonymous.call("POST", f"{API}/login", {"username": "op", "password": "wrong password!"})
    assert code == 401
    assert anonymous.call("POST", f"{API}/login", {"username": "nobody", "password": "x" * 12})[0] == 401
    assert [a["action"] for a in audit_entries(db, action_prefix="login")] == ["login.refused"] * 2

    viewer = Client(url).login("vy")
    assert viewer.call("GET", f"{API}/me")[1] == {"username": "vy", "role": "viewer"}
    assert viewer.call("GET", f"{API}/kiosks")[0] == 200
    assert (
        viewer.call("GET", f"{API}/trace/person?id={PERSON}&from=2026-11-19T00:00Z&to=2026-11-21T00:00Z")[0]
        == 403
    )
    assert viewer.call("POST", f"{API}/flags", {"target": PERSON, "status": "F0"})[0] == 403
    assert viewer.call("GET", f"{API}/audit")[0] == 403

    forged = Client(url)
    forged.token = "not-a-token"
    assert forged.call("GET", f"{API}/me")[0] == 401
    assert viewer.call("POST", f"{API}/logout")[0] == 204
    assert viewer.call("GET", f"{API}/me")[0] == 401


def test_trace_is_audited_and_returns_the_person_and_contacts(
    hub: tuple[str, threading.Event], db: Database
) -> None:
    url, _ = hub
    op = Client(url).login("op")
    window = "from=2026-11-19T00:00:00%2B07:00&to=2026-11-21T00:00:00Z"
    code, found = op.call("GET", f"{API}/trace/person?id={PERSON}&{window}")
    assert code == 200 and [p["subject_id"] for p in found] == [PERSON]
    code, contacts = op.call("GET", f"{API}/trace/contacts?id={PERSON}&{window}&window_minutes=15")
    assert code == 200 and [(c["subject_id"], c["gap_s"]) for c in contacts] == [(CONTACT, 600.0)]
    traces = audit_entries(db, action_prefix="trace")
    assert [(a["actor"], a["action"], a["detail"]["id"]) for a in traces] == [
        ("op", "trace.contacts", PERSON),
        ("op", "trace.person", PERSON),
    ]
    assert op.call("GET", f"{API}/trace/person?id=123&{window}")[0] == 422
    assert (
        op.call("GET", f"{API}/trace/person?id={PERSON}&from=2026-11-19T00:00&to=2026-11-20T00:00")[0] == 422
    )


def test_flags_from_the_api_wake_the_publisher(hub: tuple[str, threading.Event], db: Database) -> None:
    url, changed = hub
    op = Client(url).login("op")
    code, body = op.call("POST", f"{API}/flags", {"target": PERSON, "status": "F0", "note": "lab 3"})
    assert code == 201 and body["version"] == 1
    assert changed.wait(5)
    assert [f["target"] for f in op.call("GET", f"{API}/flags?search=0012")[1]] == [PERSON]
    assert op.call("POST", f"{API}/flags", {"target": "42", "status": "F0"})[0] == 422
    assert op.call("POST", f"{API}/flags", {"target": PERSON, "status": "F7"})[0] == 422
    assert op.call("POST", f"{API}/flags/lift", {"target": PERSON})[1] == {"version": 2}
    assert op.call("POST", f"{API}/flags/lift", {"target": PERSON})[0] == 404
    assert [a["actor"] for a in audit_entries(db, action_prefix="flag")] == ["op", "op"]


FULL_WIDTH_ID = "\uff10" * 11 + "\uff11"


@pytest.mark.parametrize(
    "body",
    [
        {"target": "zz", "target_kind": "pass", "status": "revoked"},
        {"target": FULL_WIDTH_ID, "status": "F0"},
        {"target": PERSON + "\n", "status": "F0"},
        {"target": "0011223344556677", "target_kind": "person", "status": "F0"},
        {"target": PERSON, "target_kind": "pass", "status": "revoked"},
    ],
)
def test_flag_targets_must_follow_the_identity_rules(
    hub: tuple[str, threading.Event], db: Database, body: dict[str, str]
) -> None:
    """Issue 12 item 2: these were accepted, and then no later flag ever left the hub."""
    url, _ = hub
    op = Client(url).login("op")
    code, problem = op.call("POST", f"{API}/flags", body)
    assert code == 422 and "target" in json.dumps(problem)
    lift = {k: v for k, v in body.items() if k != "status"}
    assert op.call("POST", f"{API}/flags/lift", lift)[0] == 422
    assert op.call("GET", f"{API}/flags?include_inactive=true")[1] == []


def test_pass_targets_are_stored_in_one_form_and_person_ids_are_ascii(
    hub: tuple[str, threading.Event],
) -> None:
    url, _ = hub
    op = Client(url).login("op")
    body = {"target": "00112233AABBCCDD", "target_kind": "pass", "status": "revoked"}
    assert op.call("POST", f"{API}/flags", body)[0] == 201
    assert [f["target"] for f in op.call("GET", f"{API}/flags")[1]] == ["00112233aabbccdd"]
    lift = {"target": "00112233aabbccdd", "target_kind": "pass"}
    assert op.call("POST", f"{API}/flags/lift", lift)[0] == 200
    window = "from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z"
    for path in ("trace/person", "trace/contacts"):
        assert op.call("GET", f"{API}/{path}?id={quote(FULL_WIDTH_ID)}&{window}")[0] == 422
    assert op.call("GET", f"{API}/flags/dead-letters")[1] == []


def test_passages_reports_and_admin_routes(hub: tuple[str, threading.Event]) -> None:
    url, _ = hub
    viewer = Client(url).login("vy")
    code, rows = viewer.call("GET", f"{API}/passages?limit=10")
    assert code == 200 and len(rows) == 3 and "NGUYEN" not in json.dumps(rows)
    code, report = viewer.call("GET", f"{API}/reports/daily?date=2026-11-20")
    assert code == 200 and report[0]["verdicts"] == {"PASS": 2, "DENY": 1, "REVIEW": 0}
    code, text = viewer.call("GET", f"{API}/reports/daily?date=2026-11-20&format=csv")
    assert code == 200 and text.startswith("checkpoint_id,dimension,key,count")
    admin = Client(url).login("ad")
    assert admin.call("GET", f"{API}/dead-letters")[1] == []
    assert admin.call("POST", f"{API}/dead-letters/99/replay")[0] == 404
    assert any(a["action"] == "report.daily" for a in admin.call("GET", f"{API}/audit")[1])


def test_openapi_document_lists_every_route(hub: tuple[str, threading.Event]) -> None:
    url, _ = hub
    code, spec = Client(url).call("GET", f"{API}/openapi.json")
    assert code == 200 and spec["openapi"].startswith("3.")
    for path in ("/kiosks", "/flags", "/flags/lift", "/trace/person", "/trace/contacts", "/reports/daily"):
        assert f"{API}{path}" in spec["paths"], path
    params = {p["name"] for p in spec["paths"][f"{API}/trace/contacts"]["get"]["parameters"]}
    assert params == {"id", "from", "to", "window_minutes"}


def test_every_answer_is_described_by_a_named_schema(hub: tuple[str, threading.Event]) -> None:
    """Was: most routes answered `list[dict[str, Any]]`, which the document gave as "an array of any
    objects": a client could not learn a single field from it. Now each success has a response model."""
    spec = Client(hub[0]).call("GET", f"{API}/openapi.json")[1]
    described = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, answer in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                schema = answer["content"]["application/json"]["schema"]
                assert "$ref" in json.dumps(schema), (method, path, code, schema)
                described += 1
    assert described == 16  # every route but logout (204, no body)
    kiosk = spec["components"]["schemas"]["KioskOut"]
    assert kiosk["properties"]["backlog"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    report = spec["paths"][f"{API}/reports/daily"]["get"]["responses"]["200"]["content"]
    assert set(report) == {"application/json", "text/csv"}


def test_kiosk_claims_of_the_wrong_type_are_shown_as_null(
    hub: tuple[str, threading.Event], db: Database
) -> None:
    """A kiosk's status is its own JSON: the fleet answer shows each claimed field when it has the
    documented type and null otherwise (before, whatever the kiosk sent went out as it was). The odd
    row is written as an untyped hub stored it, before statuses were checked on arrival."""
    good = {
        "state": "online",
        "version": "1.4.0",
        "mode": "entry",
        "backlog": 3,
        "flags_version": 12,
        "hub_keys": ["k1", "k2"],
        "clock": {"trusted": True, "reason": "ntp"},
        "resync_wanted": False,
    }
    odd = {
        "state": ["online"],
        "version": 7,
        "mode": 1,
        "checkpoint_id": 5,
        "backlog": "many",
        "flags_version": "12",
        "hub_keys": ["k1", 2],
        "clock": {"trusted": 1, "reason": 0},
        "resync_wanted": 0,
    }
    record_status(db, "kiosk-good", good, now=T0)
    from hub.schema import kiosks

    with db.begin() as conn:
        conn.execute(sa.insert(kiosks).values(kiosk_id="kiosk-odd", status=odd, status_at=to_db_time(T0)))
    code, fleet = Client(hub[0]).login("vy").call("GET", f"{API}/kiosks")
    assert code == 200
    by_id = {k["kiosk_id"]: k for k in fleet}
    shown = ["software", "mode", "backlog", "flags_version", "hub_keys", "clock_trusted", "clock_reason"]
    assert [by_id["kiosk-good"][f] for f in [*shown, "resync_wanted", "state", "online"]] == [
        *["1.4.0", "entry", 3, 12, ["k1", "k2"], True, "ntp"],
        *[False, "online", True],
    ]
    assert [by_id["kiosk-odd"][f] for f in [*shown, "resync_wanted", "state", "online"]] == [
        *[None, None, None, None, None, None, None],
        *[None, "unknown", False],
    ]
    assert by_id["kiosk-odd"]["checkpoint_id"] is None and by_id["kiosk-odd"]["claimed_checkpoint_id"] is None


def test_dashboard_is_served_by_the_hub_without_external_assets(hub: tuple[str, threading.Event]) -> None:
    url, _ = hub
    client = Client(url)
    code, page = client.call("GET", "/")
    assert code == 200 and "<html" in page
    for asset in ("/static/dashboard.js", "/static/dashboard.css"):
        code, text = client.call("GET", asset)
        assert code == 200 and text, asset
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    assert "https://" not in page and "http://" not in page
    assert client.call("GET", "/static/../api.py")[0] == 404
    assert client.call("GET", "/static/nothing.js")[0] == 404


def test_request_bodies_are_capped_declared_or_chunked(hub: tuple[str, threading.Event]) -> None:
    """Was: any body was read and parsed whole before the fields' own limits applied."""
    import http.client
    from urllib.parse import urlsplit

    from hub.api import MAX_BODY_BYTES

    url, _ = hub
    parts = urlsplit(url)
    huge = json.dumps({"username": "op", "password": "x" * (MAX_BODY_BYTES + 1)}).encode()

    def send(chunked: bool) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if chunked:
                pieces = (huge[i : i + 4096] for i in range(0, len(huge), 4096))
                conn.request("POST", f"{API}/login", body=pieces, headers=headers, encode_chunked=True)
            else:
                conn.request("POST", f"{API}/login", body=huge, headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    for chunked in (False, True):
        code, body = send(chunked)
        assert code == 413 and str(MAX_BODY_BYTES) in body["detail"], (chunked, code, body)
    assert Client(url).login("op").token  # a normal body still goes through
    doc = Client(url).call("GET", f"{API}/openapi.json")[1]
    assert "413" in doc["paths"][f"{API}/login"]["post"]["responses"]


def test_health_rules_are_listed_for_every_role(hub: tuple[str, threading.Event], db: Database) -> None:
    viewer = Client(hub[0]).login("vy")
    assert viewer.call("GET", f"{API}/rules") == (200, {"version": 0, "rules": []})
    set_rules(
        db, rule_set_from_paths([ROOT / "examples" / "rules" / "vietnam-2021.json"]), actor="op", now=T0
    )
    code, body = viewer.call("GET", f"{API}/rules")
    assert code == 200 and body["version"] == 1 and len(body["rules"]) == 12
    positive = next(r for r in body["rules"] if r["identifier"] == "TR-VN-0001")
    assert "dương tính" in positive["description_vi"] and "positive" in positive["description_en"]
    assert Client(hub[0]).call("GET", f"{API}/rules")[0] == 401
