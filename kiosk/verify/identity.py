"""Shared helpers for the unsigned identity codes (CCCD, PC-Covid): text decoding, dates, limits."""

from __future__ import annotations

import datetime as dt

from kiosk.decode.text import repair_mojibake

MAX_IDENTITY_BYTES = 1024  # a CCCD QR holds ~200 bytes; anything far larger is not one


class IdentityParseError(ValueError):
    """An identity code that does not follow its format; `reason` is a reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


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
