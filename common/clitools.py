"""Small click helpers shared by the `kiosk`, `hub` and `provision` commands (one definition each)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any, ClassVar

import click


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only; >=8.1 must run it
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


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    if c in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[c]
    code = ord(c)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape_text(text: str) -> str:
    """`text` with every non-printable character written as a visible escape (`\\x1b`, `\\u202e`).

    For anything that came from outside (a name read off a card, a kiosk's checkpoint id, a username
    typed at a login) on its way to a terminal, a log or the audit log: an escape sequence would move
    the cursor and erase other rows, a bidi override would reverse them, a newline would forge a line.
    Printable text, Vietnamese included, is left as it is. (Python's `str.isprintable`: everything but
    control, format, separator other than space, surrogate, private-use and unassigned characters.)
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def _json_escape_char(c: str) -> str:
    if c == "\n":  # json.dumps' own indentation; inside strings it is already written as \\n
        return c
    code = ord(c)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(value: Any, indent: int | None = 1) -> str:
    """JSON for a terminal: like `json.dumps(ensure_ascii=False)`, but no character that is not printable.

    json.dumps already escapes C0 controls; C1 controls (`\\x9b` is a one-byte CSI) and bidi overrides it
    writes raw. They can only occur inside strings, where `\\uXXXX` is their JSON form: the document
    parses to exactly the same value.
    """
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _json_escape_char(c) for c in text)


def emit(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """Rows as JSON (for scripts) or as an aligned text table (for people), non-printables escaped."""
    if as_json:
        click.echo(json_text(rows))
        return
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if r.get(c) is None else escape_text(str(r.get(c)))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


class EscapingFilter(logging.Filter):
    """A log handler filter: the formatted message with non-printables escaped (see `escape_text`).

    Log lines include outside text (kiosk ids, registry answers, usernames); a newline in one would
    forge a log line and an escape sequence would rewrite the terminal of whoever tails the log.
    Tracebacks are appended by the formatter afterwards and keep their lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_text(message)
        if escaped is not message:
            record.msg, record.args = escaped, None
        return True


def setup_logging(level: str | int, fmt: str) -> None:
    """`logging.basicConfig` on stderr, with `EscapingFilter` on its handler (every command's logging)."""
    logging.basicConfig(level=level, stream=sys.stderr, format=fmt)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, EscapingFilter) for f in handler.filters):
            handler.addFilter(EscapingFilter())


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
