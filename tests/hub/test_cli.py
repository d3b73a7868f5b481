"""`hub` CLI against a real SQLite hub database: flags, fleet, traces (audited), reports, repairs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.db import Database, open_database
from hub.fleet import record_status
from hub.ingest import store_events
from hub.schema import migrate
from tests.hub.factory import T0, make_event

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
