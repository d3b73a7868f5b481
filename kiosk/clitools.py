"""Small click helpers shared by the `kiosk`, `hub` and `provision` commands (one definition each)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, ClassVar

import click


class Duration(click.ParamType):
    """30m, 24h, 90s, 7d."""

    name = "duration"
    _UNITS: ClassVar[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", str(value).strip())
        if not m or float(m.group(1)) <= 0:
            self.fail(f"{value!r}: use a number and a unit, e.g. 30m, 24h, 7d", param, ctx)
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
