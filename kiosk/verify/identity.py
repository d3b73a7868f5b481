"""Shared helpers for the unsigned identity codes (CCCD, PC-Covid): text decoding, dates, limits."""

from __future__ import annotations

import datetime as dt

MAX_IDENTITY_BYTES = 1024  # a CCCD QR holds ~200 bytes; anything far larger is not one
_MOJIBAKE_MARKERS = ("Ã", "Æ", "Ä", "á»", "áº")


class IdentityParseError(ValueError):
    """An identity code that does not follow its format; `reason` is a reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def decode_text(raw: bytes) -> str | None:
    """UTF-8 text, repairing the common double-encoding (UTF-8 read as Latin-1/CP1252) mojibake.

    Some encoders write the card's UTF-8 bytes as if they were Latin-1 characters, so "Nguyễn"
    arrives as "Nguyá»…n". Re-encoding such text to CP1252/Latin-1 and decoding as UTF-8
    recovers it; text without those markers is left alone.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(m in text for m in _MOJIBAKE_MARKERS):
        for codec in ("cp1252", "latin-1"):
            try:
                return text.encode(codec).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
    return text


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
