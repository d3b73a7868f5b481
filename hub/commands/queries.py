"""`hub kiosks`, `hub passages`, `hub trace person|contacts`, `hub report daily`: what operators ask."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from common.clitools import Duration, emit, json_option
from hub import audit
from hub.assignments import assign, import_provisioning
from hub.commands import When, actor, config_of, database, utc_now
from hub.commands.flags import warn_dead_letters
from hub.fleet import fleet_view
from hub.queries import event_rejects_list, recent_passages, report_csv, report_dict

INCUBATION = dt.timedelta(days=14)


@click.group("kiosks", invoke_without_command=True)
@json_option
@click.pass_context
def kiosks(ctx: click.Context, as_json: bool) -> None:
    """The fleet: state, last heard, versions, backlog, clock; STALE when silent too long.

    CHECKPOINT is the hub's assignment (`hub kiosks assign` / `import`); a kiosk without one is shown
    at the checkpoint it claims, with ASSIGNED false. WRONG_CLAIMS counts passages it sent claiming
    another checkpoint (stored at the assigned one).
    """
    if ctx.invoked_subcommand is not None:
        return
    config = config_of(ctx)
    db = database(ctx)
    rows = fleet_view(db, now=utc_now(), stale_after_s=config.stale_after_s)
    for r in rows:
        r["state"] = f"{r['state']}{' STALE' if r['stale'] else ''}"
    columns = ["kiosk_id", "checkpoint_id", "zone", "assigned", "wrong_claims", "state", "last_heard"]
    emit(rows, [*columns, "software", "flags_version", "backlog", "clock_trusted"], as_json)
    warn_dead_letters(db)


@kiosks.command("assign")
@click.argument("kiosk_id")
@click.argument("checkpoint_id")
@click.option("--zone", help="the checkpoint's zone (as in the kiosk's policy)")
@click.pass_context
def kiosks_assign(ctx: click.Context, kiosk_id: str, checkpoint_id: str, zone: str | None) -> None:
    """Say where KIOSK_ID stands: its passages are stored at CHECKPOINT_ID whatever it claims (audited)."""
    try:
        assign(database(ctx), kiosk_id, checkpoint_id, zone=zone, actor=actor(), now=utc_now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kiosk_id}: {checkpoint_id}{f' (zone {zone})' if zone else ''}")


@kiosks.command("import")
@click.argument("provisioning_dir", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def kiosks_import(ctx: click.Context, provisioning_dir: Path) -> None:
    """Assign every enrolled kiosk to the checkpoint it was enrolled for (`provision kiosk enroll`)."""
    try:
        ids = import_provisioning(database(ctx), provisioning_dir, actor=actor(), now=utc_now())
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(ids)} kiosks assigned from {provisioning_dir}")


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
