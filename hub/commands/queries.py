"""`hub kiosks`, `hub passages`, `hub trace person|contacts`, `hub report daily`: what operators ask."""

from __future__ import annotations

import datetime as dt
import json

import click

from hub import audit
from hub.commands import When, actor, config_of, database, utc_now
from hub.fleet import fleet_view
from hub.queries import event_rejects_list, recent_passages, report_csv, report_dict
from kiosk.clitools import Duration, emit, json_option

INCUBATION = dt.timedelta(days=14)


@click.command("kiosks")
@json_option
@click.pass_context
def kiosks(ctx: click.Context, as_json: bool) -> None:
    """The fleet: state, last heard, versions, backlog, clock; STALE when silent too long."""
    config = config_of(ctx)
    rows = fleet_view(database(ctx), now=utc_now(), stale_after_s=config.stale_after_s)
    for r in rows:
        r["state"] = f"{r['state']}{' STALE' if r['stale'] else ''}"
    columns = ["kiosk_id", "checkpoint_id", "state", "last_heard", "software", "flags_version", "backlog"]
    emit(rows, [*columns, "clock_trusted"], as_json)


@click.command("passages")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--checkpoint", "checkpoint_id")
@json_option
@click.pass_context
def passages(ctx: click.Context, limit: int, checkpoint_id: str | None, as_json: bool) -> None:
    """Newest passages (no names, id numbers masked: use `trace` to find a person)."""
    rows = recent_passages(database(ctx), limit=limit, checkpoint_id=checkpoint_id)
    emit(rows, ["scanned_at", "checkpoint_id", "kiosk_id", "subject", "verdict", "reasons"], as_json)


@click.group("trace")
def trace() -> None:
    """Trace a person's passages and contacts (audited: every query is logged with who asked)."""


def _window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    end = end or utc_now()
    start = start or end - INCUBATION
    if start >= end:
        raise click.BadParameter("--from must be before --to")
    return start, end


@trace.command("person")
@click.argument("id_number")
@click.option("--from", "start", type=When(), help="default: 14 days before --to")
@click.option("--to", "end", type=When(), help="default: now")
@json_option
@click.pass_context
def trace_person(
    ctx: click.Context, id_number: str, start: dt.datetime | None, end: dt.datetime | None, as_json: bool
) -> None:
    """Where and when ID_NUMBER passed."""
    start, end = _window(start, end)
    found = audit.audited_trace_person(database(ctx), id_number, start, end, actor=actor(), now=utc_now())
    zone = config_of(ctx).zone
    rows = [{**p.__dict__, "scanned_at": p.scanned_at.astimezone(zone).isoformat()} for p in found]
    emit(rows, ["scanned_at", "checkpoint_id", "kiosk_id", "verdict", "reasons"], as_json)


@trace.command("contacts")
@click.argument("id_number")
@click.option("--window", default="30m", show_default=True, type=Duration(), help="e.g. 30m, 2h")
@click.option("--from", "start", type=When(), help="default: 14 days before --to")
@click.option("--to", "end", type=When(), help="default: now")
@json_option
@click.pass_context
def trace_contacts(
    ctx: click.Context,
    id_number: str,
    window: dt.timedelta,
    start: dt.datetime | None,
    end: dt.datetime | None,
    as_json: bool,
) -> None:
    """Who passed the same checkpoint within WINDOW of ID_NUMBER's passages (F1 candidates)."""
    start, end = _window(start, end)
    found = audit.audited_trace_contacts(
        database(ctx), id_number, start, end, window, actor=actor(), now=utc_now()
    )
    zone = config_of(ctx).zone
    rows = [
        {
            "subject_id": c.subject_id,
            "subject_name": c.subject_name,
            "checkpoint_id": c.checkpoint_id,
            "their_passage": c.their_passage.astimezone(zone).isoformat(),
            "person_passage": c.person_passage.astimezone(zone).isoformat(),
            "gap_s": int(c.gap.total_seconds()),
        }
        for c in found
    ]
    emit(rows, list(rows[0]) if rows else ["subject_id"], as_json)


@click.group("report")
def report() -> None:
    """Reports."""


@report.command("daily")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="local date (default: today)")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "csv", "json"]))
@click.pass_context
def report_daily(ctx: click.Context, day: dt.datetime | None, fmt: str) -> None:
    """Per checkpoint: passes, denies, reviews, by reason and by local hour."""
    zone = config_of(ctx).zone
    date = day.date() if day else utc_now().astimezone(zone).date()
    result = audit.audited_daily_report(database(ctx), date, zone, actor=actor(), now=utc_now())
    if fmt == "csv":
        click.echo(report_csv(result), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(report_dict(result), indent=1))
    else:
        rows = [{"checkpoint_id": d.checkpoint_id, "total": d.total, **d.verdicts} for d in result]
        click.echo(f"{date.isoformat()} (UTC{zone.utcoffset(None)})")
        emit(rows, ["checkpoint_id", "total", "PASS", "DENY", "REVIEW"], False)


@click.command("audit")
@click.option("--action", help="action prefix, e.g. trace")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
@click.pass_context
def audit_log(ctx: click.Context, action: str | None, limit: int, as_json: bool) -> None:
    """Who did or looked up what, newest first."""
    rows = audit.audit_entries(database(ctx), action_prefix=action, limit=limit)
    emit(rows, ["id", "at", "actor", "action", "detail"], as_json)


@click.command("rejects")
@click.option("--kiosk", "kiosk_id")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
@click.pass_context
def rejects(ctx: click.Context, kiosk_id: str | None, limit: int, as_json: bool) -> None:
    """Events refused or dead-lettered at ingest (acked, kept only here), newest first."""
    rows = event_rejects_list(database(ctx), limit=limit, kiosk_id=kiosk_id)
    emit(rows, ["id", "received_at", "kiosk_id", "event_id", "reason"], as_json)


COMMANDS = [kiosks, passages, trace, report, audit_log, rejects]
