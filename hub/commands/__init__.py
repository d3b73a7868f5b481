"""Subcommands of `hub` and the small helpers they share (config, database, times, output)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
from typing import Any, ClassVar

import click

from hub.config import ConfigError, HubConfig, load_hub_config
from hub.db import Database, open_database
from hub.schema import migrate


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def config_of(ctx: click.Context) -> HubConfig:
    try:
        return load_hub_config(ctx.find_root().obj["config_path"])
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def database(ctx: click.Context) -> Database:
    db = open_database(config_of(ctx).database_url)
    migrate(db, utc_now())
    return db


def hub_zone(config: HubConfig) -> dt.timezone:
    return dt.timezone(dt.timedelta(minutes=config.timezone_offset_minutes))


def actor() -> str:
    """Who the audit log names for CLI actions: the OS user (sudo's caller when run with sudo)."""
    return f"cli:{getpass.getuser()}"


class When(click.ParamType):
    """A date or date-time; without a zone it is read in the hub's zone (Vietnam: UTC+7)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date or time like 2026-11-29 or 2026-11-29T08:30", param, ctx)
        if t.tzinfo is None and ctx is not None:
            t = t.replace(tzinfo=hub_zone(config_of(ctx)))
        return t


class Duration(click.ParamType):
    """30m, 2h, 90s, 1d."""

    name = "duration"
    _UNITS: ClassVar[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", str(value).strip())
        if not m or float(m.group(1)) <= 0:
            self.fail(f"{value!r}: use a number and a unit, e.g. 30m, 2h, 90s", param, ctx)
        return dt.timedelta(seconds=float(m.group(1)) * self._UNITS[m.group(2)])


def emit(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """Rows as JSON (for scripts) or as an aligned text table (for people)."""
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
