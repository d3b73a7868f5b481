"""Shared helpers for the unsigned identity codes (CCCD, PC-Covid): text decoding, dates, limits."""

from __future__ import annotations

import datetime as dt
import unicodedata

from kiosk.decode.text import repair_mojibake

MAX_IDENTITY_BYTES = 1024  # a CCCD QR holds ~200 bytes; anything far larger is not one


class IdentityParseError(ValueError):
    """An identity code that does not follow its format; `reason` is a reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# Control (Cc), format (Cf: bidi embeddings/overrides/isolates U+202A-202E, U+2066-2069, marks, zero-width
# joiners), surrogate, private-use and unassigned characters, and line/paragraph separators. No name or
# address printed on a card needs one; an escape sequence in a name rewrites an operator's terminal and a
# bidi override reverses what a screen or a spreadsheet shows.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_unsafe_characters(text: str) -> bool:
    """True if `text` holds a character no printed identity field has (see _UNSAFE_CATEGORIES)."""
    return any(unicodedata.category(c) in _UNSAFE_CATEGORIES for c in text)


def refuse_unsafe_characters(fields: list[str]) -> None:
    """IdentityParseError('control_characters') naming the first field (by position) that holds one."""
    for i, value in enumerate(fields):
        if has_unsafe_characters(value):
            raise IdentityParseError("control_characters", f"field {i + 1}")


def decode_text(raw: bytes) -> str | None:
    """UTF-8 text with the common double-encoding mojibake repaired (see kiosk/decode/text.py), or None."""
    try:
        return repair_mojibake(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def ddmmyyyy(text: str) -> str | None:
    """`ddmmyyyy` -> ISO `YYYY-MM-DD` if it is a real date, else None."""
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        return None
    try:
        return dt.date(int(text[4:]), int(text[2:4]), int(text[:2])).isoformat()
    except ValueError:
        return None


def iso_date(text: str) -> str | None:
    """`YYYY-MM-DD` if it is a real date, else None."""
    if len(text) != 10 or not text.isascii():
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None
