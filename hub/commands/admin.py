"""`hub operators`, `hub dead-letters`, `hub rebase-seq`: accounts and repairs."""

from __future__ import annotations

import click

from common.clitools import emit, json_option
from hub import operators as accounts
from hub.commands import actor, database, utc_now
from hub.ingest import rebase_kiosk_seq
from hub.registry.forwarder import list_dead_letters, replay_dead_letter


@click.group("operators")
def operators() -> None:
    """Dashboard and API accounts (roles: viewer, operator, admin)."""


@operators.command("set")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES))
@click.password_option(
    "--password", envvar="HUB_OPERATOR_PASSWORD", help="prompted when not given (or $HUB_OPERATOR_PASSWORD)"
)
@click.pass_context
def operators_set(ctx: click.Context, username: str, role: str, password: str) -> None:
    """Create USERNAME or reset its role and password (ends its sessions)."""
    try:
        accounts.set_operator(database(ctx), username, role, password, actor=actor(), now=utc_now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{username}: {role}")


@operators.command("disable")
@click.argument("username")
@click.pass_context
def operators_disable(ctx: click.Context, username: str) -> None:
    """Lock USERNAME out at once (its sessions end)."""
    try:
        accounts.disable_operator(database(ctx), username, actor=actor(), now=utc_now())
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"{username}: disabled")


@operators.command("list")
@json_option
@click.pass_context
def operators_list(ctx: click.Context, as_json: bool) -> None:
    emit(accounts.list_operators(database(ctx)), ["username", "role", "disabled"], as_json)


@click.group("dead-letters")
def dead_letters() -> None:
    """Batches the registry refused for good (4xx other than 409): look, fix, replay."""


@dead_letters.command("list")
@click.option("--all", "include_replayed", is_flag=True)
@json_option
@click.pass_context
def dead_letters_list(ctx: click.Context, include_replayed: bool, as_json: bool) -> None:
    rows = list_dead_letters(database(ctx), include_replayed=include_replayed)
    for r in rows:
        r["events"] = len(r["event_ids"])
    emit(rows, ["id", "created_at", "status_code", "reason", "events", "replayed_at"], as_json)


@dead_letters.command("replay")
@click.argument("dead_letter_id", type=int)
@click.pass_context
def dead_letters_replay(ctx: click.Context, dead_letter_id: int) -> None:
    try:
        ids = replay_dead_letter(database(ctx), dead_letter_id, now=utc_now(), actor=actor())
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"{len(ids)} events back in the outbox")


@click.command("rebase-seq")
@click.argument("kiosk_id")
@click.argument("last_seq", type=click.IntRange(0, 2**63 - 2))  # the next seq must fit a BIGINT
@click.pass_context
def rebase_seq(ctx: click.Context, kiosk_id: str, last_seq: int) -> None:
    """After the hub lost its database: accept KIOSK_ID's events from LAST_SEQ + 1 on."""
    rebase_kiosk_seq(database(ctx), kiosk_id, last_seq, utc_now())
    click.echo(f"{kiosk_id}: next expected seq {last_seq + 1}")


COMMANDS = [operators, dead_letters, rebase_seq]
