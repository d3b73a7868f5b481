"""`hub flags add / lift / list`: operators' flags (F0/F1/F2 people, revoked passes)."""

from __future__ import annotations

import datetime as dt

import click

from common.clitools import emit, json_option
from hub import flags as flag_store
from hub.commands import When, actor, database, utc_now
from hub.db import Database


@click.group("flags")
def group() -> None:
    """Flag people or passes; kiosks get each change as a signed delta within seconds."""


@group.command("add")
@click.argument("target")
@click.option("--status", required=True, type=click.Choice(sorted(flag_store.STATUSES)))
@click.option("--kind", "target_kind", default="person", type=click.Choice(sorted(flag_store.TARGET_KINDS)))
@click.option("--from", "starts_at", type=When(), help="default: now")
@click.option("--until", "ends_at", type=When(), help="default: until lifted")
@click.option("--note", help="why (kept in the flag log, not sent to kiosks)")
@click.pass_context
def add(
    ctx: click.Context,
    target: str,
    status: str,
    target_kind: str,
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None,
    note: str | None,
) -> None:
    """Flag TARGET (a 12-digit id number, or a pass id with --kind pass)."""
    now = utc_now()
    try:
        version = flag_store.add_flag(
            database(ctx),
            target,
            status,
            starts_at=starts_at or now,
            ends_at=ends_at,
            actor=actor(),
            now=now,
            target_kind=target_kind,
            note=note,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"flag-list version {version}")


@group.command("lift")
@click.argument("target")
@click.option("--kind", "target_kind", default="person", type=click.Choice(sorted(flag_store.TARGET_KINDS)))
@click.option("--note")
@click.pass_context
def lift(ctx: click.Context, target: str, target_kind: str, note: str | None) -> None:
    """Lift the flag on TARGET."""
    try:
        version = flag_store.lift_flag(
            database(ctx), target, actor=actor(), now=utc_now(), target_kind=target_kind, note=note
        )
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"flag-list version {version}")


@group.command("list")
@click.option("--search", help="targets starting with this")
@click.option("--all", "include_inactive", is_flag=True, help="also lifted, expired and future flags")
@json_option
@click.pass_context
def list_(ctx: click.Context, search: str | None, include_inactive: bool, as_json: bool) -> None:
    """Flags in force now (latest change per target)."""
    db = database(ctx)
    rows = flag_store.flag_list(db, utc_now(), search=search, include_inactive=include_inactive)
    emit(
        rows,
        ["version", "target_kind", "target", "status", "active", "starts_at", "ends_at", "source"],
        as_json,
    )
    warn_dead_letters(db)


def warn_dead_letters(db: Database) -> None:
    """The operators' alarm for flag changes that never reached kiosks (on stderr: scripts read stdout)."""
    count = flag_store.flag_dead_letter_count(db)
    if count:
        click.echo(
            f"WARNING: {count} flag change(s) could not be sent to kiosks: see `hub flags dead-letters`",
            err=True,
        )


@group.command("dead-letters")
@json_option
@click.pass_context
def dead_letters(ctx: click.Context, as_json: bool) -> None:
    """Flag changes set aside because kiosks cannot be sent them (bad target from the registry or an old row).

    Each one is a flag that is NOT in force at the kiosks: add it again with a valid target.
    """
    rows = flag_store.flag_dead_letter_list(database(ctx))
    emit(rows, ["id", "created_at", "source", "version", "reason", "body"], as_json)
