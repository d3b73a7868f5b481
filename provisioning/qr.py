"""QR images of passes (segno: pure Python, PNG and SVG, no native dependency on the hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from common.extras import require_extra

ErrorLevel = Literal["M", "Q"]
FORMATS = ("png", "svg")


def write_qr(text: str, path: Path, error: ErrorLevel = "M", scale: int = 8, border: int = 4) -> str:
    """Write `text` as a QR code to `path` (.png or .svg); returns the symbol's version and level, e.g. "8-M".

    The level is exactly the one asked for (no silent boost), M by default: a VNP1 pass then fits
    a version 7-8 symbol (alphanumeric mode: Base45 is the QR alphanumeric alphabet); Q survives
    more damage on paper at one or two versions more. The 4-module quiet zone is the standard's.
    """
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"{path}: the file name must end in .png or .svg")
    require_extra("provision pass", "provision")
    import segno  # here, not at the top: `provision kiosk keygen` runs on kiosks, which install no segno

    qr = segno.make_qr(text, error=error.lower(), boost_error=False)
    qr.save(str(path), kind=suffix, scale=scale, border=border)
    return qr.designator
