"""From QR bytes to text: UTF-8 first (Vietnamese names), with a repair for common mojibake.

Some CCCD-printing software and phone apps encode UTF-8 text, then a reader or a re-encoder takes
those bytes for Latin-1 or Windows-1252 and encodes them again as UTF-8 ("Nguyá»…n" for "Nguyễn").
We undo exactly one such round when the result is valid UTF-8 and contains characters beyond Latin-1;
otherwise the text stays as the symbol said it.
"""

from __future__ import annotations

import re

# A character that neither Latin-1 nor CP1252 can encode (beyond U+00FF and not one of CP1252's
# 0x80-0x9F specials): text holding one cannot be the result of such a round. Most honest non-ASCII
# text (Vietnamese names: "ễ" is U+1EC5) is told apart by this one search, without raising and
# catching two encode errors on every frame a code is in view.
_CP1252_SPECIALS = bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")
_NOT_LATIN = re.compile(f"[^\x00-\xff{re.escape(_CP1252_SPECIALS)}]")


def repair_mojibake(text: str) -> str:
    """Undo one UTF-8 -> Latin-1/CP1252 -> UTF-8 round, if that is what happened."""
    if text.isascii() or _NOT_LATIN.search(text):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            candidate = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if candidate != text and any(ord(ch) > 0xFF for ch in candidate):
            return candidate
        if candidate != text and not any(0x80 <= ord(ch) <= 0xBF for ch in candidate):
            return candidate
    return text


def text_from_symbol(raw: bytes, library_text: str | None) -> str | None:
    """The best text for a symbol: the library's (it honours ECI/charset), mojibake repaired.

    `None` only when the bytes are not text at all (binary payloads): callers keep `raw` for those.
    """
    if library_text is None:
        try:
            return repair_mojibake(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return repair_mojibake(library_text)
