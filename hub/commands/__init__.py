"""Subcommands of `hub` and the small helpers they share (config, database, times, output)."""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any

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
            t = t.replace(tzinfo=config_of(ctx).zone)
        return t
