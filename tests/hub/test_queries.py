"""Operator queries on generated data, checked against a naive recomputation from the same events."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import Counter
from typing import Any

import pytest

from hub.db import Database
from hub.ingest import store_events
from hub.queries import daily_report, report_csv, trace_contacts, trace_person
from testkit.hub_events import T0, make_event

ICT = dt.timezone(dt.timedelta(hours=7))
PEOPLE = [f"0012345678{i:02d}" for i in range(15)]


@pytest.fixture
def generated(db: Database) -> list[dict[str, Any]]:
    rnd = random.Random(42)
    evs = []
    for seq in range(300):
        at = T0 + dt.timedelta(seconds=rnd.randrange(0, 2 * 86400))
        verdict = rnd.choice(["PASS", "PASS", "PASS", "DENY", "REVIEW"])
        reasons = {"PASS": [], "DENY": [rnd.choice(["flag_f0", "expired"])], "REVIEW": ["bare_cccd"]}[verdict]
        kiosk = f"k{seq % 4}"
        evs.append(
            make_event(
                seq,
                kiosk=kiosk,
                checkpoint=f"cp-{seq % 3}",
                at=at,
                id_number=rnd.choice([*PEOPLE, None]),
                verdict=verdict,
                reasons=reasons,
                rnd=rnd,
            )
        )
    assert len(store_events(db, evs, now=T0)) == 300
    return evs


def when(e: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(e["scanned_at"].replace("Z", "+00:00"))


def sid(e: dict[str, Any]) -> str | None:
    return e["subject"]["id_number"] if e["subject"] else None


def test_trace_person(db: Database, generated: list[dict[str, Any]]) -> None:
    person = PEOPLE[3]
    start, end = T0 + dt.timedelta(hours=6), T0 + dt.timedelta(hours=40)
    expected = sorted(
        (when(e), e["event_id"]) for e in generated if sid(e) == person and start <= when(e) <= end
    )
    got = trace_person(db, person, start, end)
    assert expected, "generated data should give this person passages"
    assert [(p.scanned_at, p.event_id) for p in got] == expected


def test_trace_contacts(db: Database, generated: list[dict[str, Any]]) -> None:
    person, window = PEOPLE[5], dt.timedelta(minutes=90)
    start, end = T0, T0 + dt.timedelta(days=2)
    mine = [e for e in generated if sid(e) == person]
    expected = sorted(
        (e["checkpoint_id"], when(p), when(e), sid(e))
        for p in mine
        for e in generated
        if e["checkpoint_id"] == p["checkpoint_id"]
        and sid(e) not in (None, person)
        and abs(when(e) - when(p)) <= window
    )
    got = trace_contacts(db, person, start, end, window)
    assert expected, "generated data should give this person contacts"
    assert [(c.checkpoint_id, c.person_passage, c.their_passage, c.subject_id) for c in got] == expected
    assert all(c.gap <= window for c in got)


def test_daily_report_and_csv(db: Database, generated: list[dict[str, Any]]) -> None:
    day = dt.date(2026, 11, 21)
    in_day = [e for e in generated if when(e).astimezone(ICT).date() == day]
    report = daily_report(db, day, ICT)
    assert sum(d.total for d in report) == len(in_day) > 0
    for d in report:
        mine = [e for e in in_day if e["checkpoint_id"] == d.checkpoint_id]
        assert d.verdicts == Counter(e["verdict"] for e in mine)
        assert d.reasons == Counter(r for e in mine for r in e["reasons"])
        hours = Counter((when(e).astimezone(ICT).hour, e["verdict"]) for e in mine)
        assert {(h, v): n for h, c in d.hours.items() for v, n in c.items()} == hours
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    denies = sum(int(r["count"]) for r in rows if r["dimension"] == "verdict" and r["key"] == "DENY")
    assert denies == sum(1 for e in in_day if e["verdict"] == "DENY")
