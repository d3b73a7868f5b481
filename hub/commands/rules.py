"""`hub rules set PATH... | show`: the health rules every kiosk applies, pushed by the hub (hub/rules.py)."""

from __future__ import annotations

from pathlib import Path

import click

from common.clitools import emit, json_option
from hub import rules
from hub.commands import actor, database, utc_now


@click.group("rules")
def group() -> None:
    """Health rules (EU rule format, CertLogic) and value sets, signed and pushed to every kiosk."""


@group.command("set")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def set_(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Replace the rule set with the rules and EU value sets in PATHS (files or directories of .json)."""
    try:
        rule_set = rules.rule_set_from_paths(list(paths))
    except (rules.RulesError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    version = rules.set_rules(database(ctx), rule_set, actor=actor(), now=utc_now())
    click.echo(f"health rules version {version}: {len(rule_set)} rules; the running hub publishes them")


@group.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """The current rules: identifier, certificate type, validity and description."""
    current = rules.current_rules(database(ctx))
    if current is None:
        click.echo("no health rules yet (kiosks apply their provisioned rules, if any)")
        return
    version, body = current
    rows = [{"rules_version": version, **row} for row in rules.summary(body)]
    columns = ["rules_version", "identifier", "version", "certificate_type", "valid_from", "valid_to"]
    emit(rows, [*columns, "description_en"], as_json)
