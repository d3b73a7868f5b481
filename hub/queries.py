"""Operator queries: trace a person, trace their contacts, daily per-checkpoint statistics.

Each query uses an index of `events` (subject_id, scanned_at) or (checkpoint_id, scanned_at). Time windows
are computed in Python and passed as bounds, so the same SQL serves SQLite and PostgreSQL (no dialect date
arithmetic). All times in and out are aware UTC datetimes; the daily report takes the zone its "day" and
"hour" are meant in (Vietnam: UTC+7).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from common.clitools import escape_text
from hub.db import Database, from_db_time, to_db_time
from hub.schema import event_rejects, events

VERDICTS = ("PASS", "DENY", "REVIEW")


@dataclass(frozen=True)
class Passage:
    event_id: str
    subject_id: str | None
    subject_name: str | None
    checkpoint_id: str
    kiosk_id: str
    scanned_at: dt.datetime
    verdict: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Contact:
    """Someone else at the same checkpoint within the window of one of the traced person's passages."""

    subject_id: str
    subject_name: str | None
    checkpoint_id: str
    their_passage: dt.datetime
    person_passage: dt.datetime

    @property
    def gap(self) -> dt.timedelta:
        return abs(self.their_passage - self.person_passage)


def _passage(row: sa.Row) -> Passage:  # bare: Row's type parameters differ between SQLAlchemy 2.0 and 2.1
    m = row._mapping
    scanned = from_db_time(m["scanned_at"])
    assert scanned is not None
    return Passage(
        m["event_id"],
        m["subject_id"],
        m["subject_name"],
        m["checkpoint_id"],
        m["kiosk_id"],
        scanned,
        m["verdict"],
        tuple(m["reasons"] or ()),
    )


_COLUMNS = (
    events.c.event_id,
    events.c.subject_id,
    events.c.subject_name,
    events.c.checkpoint_id,
    events.c.kiosk_id,
    events.c.scanned_at,
    events.c.verdict,
    events.c.reasons,
)


def trace_person(db: Database, id_number: str, start: dt.datetime, end: dt.datetime) -> list[Passage]:
    """Where and when the person passed in [start, end], oldest first."""
    q = (
        sa.select(*_COLUMNS)
        .where(
            events.c.subject_id == id_number,
            events.c.scanned_at >= to_db_time(start),
            events.c.scanned_at <= to_db_time(end),
        )
        .order_by(events.c.scanned_at, events.c.event_id)
    )
    with db.begin() as conn:
        return [_passage(r) for r in conn.execute(q)]


def trace_contacts(
    db: Database, id_number: str, start: dt.datetime, end: dt.datetime, window: dt.timedelta
) -> list[Contact]:
    """Everyone identified at the same checkpoint within ±window of the person's passages in [start, end].

    One row per (contact passage, person passage) pair, ordered by checkpoint and time; people whose id was
    unreadable cannot be traced and are left out.
    """
    found: list[Contact] = []
    passages = trace_person(db, id_number, start, end)
    with db.begin() as conn:
        for p in passages:
            q = (
                sa.select(*_COLUMNS)
                .where(
                    events.c.checkpoint_id == p.checkpoint_id,
                    events.c.scanned_at >= to_db_time(p.scanned_at - window),
                    events.c.scanned_at <= to_db_time(p.scanned_at + window),
                    events.c.subject_id.is_not(None),
                    events.c.subject_id != id_number,
                )
                .order_by(events.c.scanned_at, events.c.event_id)
            )
            for r in conn.execute(q):
                other = _passage(r)
                assert other.subject_id is not None
                found.append(
                    Contact(
                        other.subject_id, other.subject_name, p.checkpoint_id, other.scanned_at, p.scanned_at
                    )
                )
    return sorted(found, key=lambda c: (c.checkpoint_id, c.person_passage, c.their_passage, c.subject_id))


@dataclass
class CheckpointDay:
    """One checkpoint's day: counts per verdict, per reason code and per local hour."""

    checkpoint_id: str
    verdicts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    hours: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def total(self) -> int:
        return sum(self.verdicts.values())


def daily_report(db: Database, day: dt.date, tz: dt.tzinfo) -> list[CheckpointDay]:
    """Statistics for the local calendar `day` in zone `tz`, one entry per checkpoint (sorted)."""
    local_start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    start, end = local_start.astimezone(dt.UTC), (local_start + dt.timedelta(days=1)).astimezone(dt.UTC)
    q = sa.select(events.c.checkpoint_id, events.c.scanned_at, events.c.verdict, events.c.reasons).where(
        events.c.scanned_at >= to_db_time(start), events.c.scanned_at < to_db_time(end)
    )
    days: dict[str, CheckpointDay] = {}
    with db.begin() as conn:
        for checkpoint_id, scanned_at, verdict, reasons in conn.execute(q):
            d = days.setdefault(checkpoint_id, CheckpointDay(checkpoint_id))
            d.verdicts[verdict] += 1
            d.reasons.update(reasons or ())
            local = scanned_at.replace(tzinfo=dt.UTC).astimezone(tz)
            d.hours[local.hour][verdict] += 1
    return [days[k] for k in sorted(days)]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: never a formula, never a control character.

    Text cells starting with `= + - @`, a tab or a carriage return are what spreadsheets evaluate
    (`=HYPERLINK(...)` from a kiosk's checkpoint id or reason code); a leading `'` makes them text
    (OWASP's CSV-injection advice). Non-printables are escaped as in the CLI. Numbers pass unchanged.
    """
    if not isinstance(value, str):
        return value
    text = escape_text(value)
    return "'" + text if value.startswith(FORMULA_STARTS) else text


def report_csv(report: list[CheckpointDay]) -> str:
    """Long-format CSV: checkpoint_id, dimension (verdict | reason | hour), key, count (cells: csv_cell)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["checkpoint_id", "dimension", "key", "count"])
    for d in report:
        cp = csv_cell(d.checkpoint_id)
        for v in VERDICTS:
            w.writerow([cp, "verdict", v, d.verdicts.get(v, 0)])
        for reason, n in sorted(d.reasons.items()):
            w.writerow([cp, "reason", csv_cell(reason), n])
        for hour in sorted(d.hours):
            for v in VERDICTS:
                if d.hours[hour].get(v):
                    w.writerow([cp, "hour", f"{hour:02d}:{v}", d.hours[hour][v]])
    return out.getvalue()


def mask_id(id_number: str | None) -> str | None:
    """The last 4 digits only: enough for an operator to match a card in hand, not to look a person up."""
    return None if id_number is None else "•" * max(0, len(id_number) - 4) + id_number[-4:]


def recent_passages(
    db: Database, *, limit: int = 50, checkpoint_id: str | None = None
) -> list[dict[str, object]]:
    """The newest passages for the dashboard, WITHOUT names and with masked id numbers.

    Seeing the flow at a checkpoint needs no personal data; finding a person is a trace query, which
    needs the operator role and is audited.
    """
    q = sa.select(*_COLUMNS).order_by(events.c.scanned_at.desc(), events.c.event_id.desc()).limit(limit)
    if checkpoint_id:
        q = q.where(events.c.checkpoint_id == checkpoint_id)
    with db.begin() as conn:
        rows = [_passage(r) for r in conn.execute(q)]
    return [
        {
            "event_id": p.event_id,
            "scanned_at": p.scanned_at.isoformat(),
            "checkpoint_id": p.checkpoint_id,
            "kiosk_id": p.kiosk_id,
            "subject": mask_id(p.subject_id),
            "verdict": p.verdict,
            "reasons": list(p.reasons),
        }
        for p in rows
    ]


def report_dict(report: list[CheckpointDay]) -> list[dict[str, object]]:
    """JSON form of a daily report: per checkpoint, totals by verdict, by reason and by local hour."""
    return [
        {
            "checkpoint_id": d.checkpoint_id,
            "total": d.total,
            "verdicts": {v: d.verdicts.get(v, 0) for v in VERDICTS},
            "reasons": dict(sorted(d.reasons.items())),
            "hours": {f"{h:02d}": {v: d.hours[h].get(v, 0) for v in VERDICTS} for h in sorted(d.hours)},
        }
        for d in report
    ]


def event_rejects_list(
    db: Database, *, limit: int = 50, kiosk_id: str | None = None
) -> list[dict[str, object]]:
    """Events the hub refused or could not store, newest first: what operators look at when a kiosk's
    passage is missing. Invalid events (the reason names the field) and dead-lettered ones (the
    database refused a valid row: the reason starts with `hub.ingest.NOT_STORABLE`) were acked to the
    kiosk, so this table is the only place they are kept. The body is not listed: it may hold personal
    fields exactly as a kiosk sent them."""
    q = sa.select(
        event_rejects.c.id,
        event_rejects.c.received_at,
        event_rejects.c.kiosk_id,
        event_rejects.c.event_id,
        event_rejects.c.reason,
    ).order_by(event_rejects.c.id.desc())
    if kiosk_id:
        q = q.where(event_rejects.c.kiosk_id == kiosk_id)
    with db.begin() as conn:
        return [
            {**r._mapping, "received_at": from_db_time(r.received_at).isoformat()}
            for r in conn.execute(q.limit(limit))
        ]
