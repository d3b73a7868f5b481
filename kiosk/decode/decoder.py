"""QR decoding with zxing-cpp, plus a recovery strategy for what one library call misses.

Pass 1 is a reduced library call (full resolution, dark-on-light only), which reads most frames
at about half the cost of the library's default search; if it reads nothing, the default search
follows, so the decoder never misses what a plain call reads. Only when both found no valid code
does the decoder spend the rest of the frame's time budget on recovery, cheapest and most likely
first:

1. symbols zxing-cpp located but could not decode (`return_errors=True` gives their corners):
   crop each with a margin, upscale it and retry with other binarizers and contrast normalisation;
2. the whole frame with the global-histogram binarizer (uneven light, glare);
3. the whole frame contrast-normalised (CLAHE: dim screens, low light);
4. the whole frame sharpened (motion or focus blur) and a 2× upscale of the central region
   (small codes: ID cards held far away).

Every attempt checks the deadline first, so a hard frame never delays the next one by more than
the budget. Texts use zxing-cpp's Plain text mode: the exact characters of the symbol, without
the human-readable escapes (`<SOH>`, GS1 parentheses) that HRI mode adds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from kiosk.decode.config import DecodeConfig
from kiosk.decode.text import text_from_symbol

Point = tuple[int, int]
Quad = tuple[Point, Point, Point, Point]

QR = zxingcpp.BarcodeFormat.QRCode


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """One QR symbol read from a frame."""

    text: str | None  # None for payloads that are not text
    raw: bytes
    position: Quad  # corners in frame pixels: top-left, top-right, bottom-right, bottom-left
    strategy: str  # which attempt read it: "plain", "region-upscale", "histogram", ...


def _quad(position: zxingcpp.Position, scale: float = 1.0, offset: Point = (0, 0)) -> Quad:
    ox, oy = offset
    pts = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    return tuple((round(p.x / scale + ox), round(p.y / scale + oy)) for p in pts)  # type: ignore[return-value]


def _read(
    image: np.ndarray,
    binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
    return_errors: bool = False,
    downscale: bool = True,
    invert: bool = True,
) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(
        image,
        formats=QR,
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=binarizer,
        return_errors=return_errors,
        try_downscale=downscale,
        try_invert=invert,
    )


class QrDecoder:
    """Stateless apart from reusable helpers; safe to call from one thread at a time."""

    def __init__(
        self, config: DecodeConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or DecodeConfig()
        self._clock = clock
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))

    def decode(
        self, gray: np.ndarray, deadline: float | None = None, recover: bool = True
    ) -> list[DecodedCode]:
        """All QR codes in a grayscale frame. Recovery stops at `deadline` (monotonic seconds).

        With `recover=False` only symbols that zxing-cpp located are retried, not the whole frame.
        """
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"expected a 2-D uint8 grayscale image, got {gray.dtype} {gray.shape}")
        if deadline is None:
            deadline = self._clock() + self.config.frame_budget_ms / 1000.0
        # Most frames hold a dark-on-light code at a readable size: try that alone first (about half
        # the cost of the library's full search), then the full default search, so that nothing a
        # plain library call reads is ever missed.
        quick = _read(gray, return_errors=True, downscale=False, invert=False)
        found = [self._code(b, "plain") for b in quick if b.valid]
        if found:
            return _unique(found)
        first = _read(gray, return_errors=True)
        found = [self._code(b, "plain") for b in first if b.valid]
        if found:
            return _unique(found)
        first = first or quick
        failed = [b for b in first if not b.valid][: self.config.retry_regions]
        for strategy, attempt in self._recovery(gray, failed, whole_frame=recover):
            if self._clock() >= deadline:
                break
            codes = attempt()
            if codes:
                return _unique([DecodedCode(c.text, c.raw, c.position, strategy) for c in codes])
        return []

    # -- recovery -------------------------------------------------------------------------------

    def _recovery(
        self, gray: np.ndarray, failed: list[zxingcpp.Barcode], whole_frame: bool
    ) -> Iterator[tuple[str, Callable[[], list[DecodedCode]]]]:
        for symbol in failed:
            yield "region-upscale", lambda s=symbol: self._retry_region(gray, s)
        if not whole_frame:
            return
        yield "histogram", lambda: self._whole(gray, zxingcpp.Binarizer.GlobalHistogram)
        yield "clahe", lambda: self._whole(self._clahe.apply(gray))
        yield "sharpen", lambda: self._whole(_unsharp(gray))
        yield "center-upscale", lambda: self._center_upscale(gray)

    def _whole(
        self, image: np.ndarray, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage
    ) -> list[DecodedCode]:
        return [self._code(b, "") for b in _read(image, binarizer) if b.valid]

    def _retry_region(self, gray: np.ndarray, symbol: zxingcpp.Barcode) -> list[DecodedCode]:
        xs = [p.x for p in (symbol.position.top_left, symbol.position.top_right,
                            symbol.position.bottom_right, symbol.position.bottom_left)]  # fmt: skip
        ys = [p.y for p in (symbol.position.top_left, symbol.position.top_right,
                            symbol.position.bottom_right, symbol.position.bottom_left)]  # fmt: skip
        size = max(max(xs) - min(xs), max(ys) - min(ys), 8)
        margin = size // 4 + 4
        h, w = gray.shape
        x0, y0 = max(0, min(xs) - margin), max(0, min(ys) - margin)
        x1, y1 = min(w, max(xs) + margin), min(h, max(ys) + margin)
        crop = gray[y0:y1, x0:x1]
        if crop.size == 0:
            return []
        scale = max(1.0, min(4.0, 400.0 / max(crop.shape)))
        big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else crop
        for image, binarizer in (
            (big, zxingcpp.Binarizer.LocalAverage),
            (big, zxingcpp.Binarizer.GlobalHistogram),
            (self._clahe.apply(big), zxingcpp.Binarizer.LocalAverage),
            (_unsharp(big), zxingcpp.Binarizer.LocalAverage),
        ):
            codes = [
                self._code(b, "", scale, (x0, y0))
                for b in _read(image, binarizer, downscale=False)
                if b.valid
            ]
            if codes:
                return codes
        return []

    def _center_upscale(self, gray: np.ndarray) -> list[DecodedCode]:
        h, w = gray.shape
        y0, x0 = h // 4, w // 4
        crop = gray[y0 : y0 + h // 2, x0 : x0 + w // 2]
        big = cv2.resize(crop, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
        return [self._code(b, "", 2.0, (x0, y0)) for b in _read(big, downscale=False) if b.valid]

    @staticmethod
    def _code(
        barcode: zxingcpp.Barcode, strategy: str, scale: float = 1.0, offset: Point = (0, 0)
    ) -> DecodedCode:
        raw = bytes(barcode.bytes)
        return DecodedCode(
            text_from_symbol(raw, barcode.text), raw, _quad(barcode.position, scale, offset), strategy
        )


def _unsharp(image: np.ndarray) -> np.ndarray:
    """Unsharp mask, strong enough to pull blurred modules apart (tuned on bench/corpus.py)."""
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    return cv2.addWeighted(image, 2.5, blurred, -1.5, 0)


def _unique(codes: list[DecodedCode]) -> list[DecodedCode]:
    """One entry per payload (the same symbol can be found twice, e.g. at two scales)."""
    seen: set[bytes] = set()
    out = []
    for code in codes:
        if code.raw not in seen:
            seen.add(code.raw)
            out.append(code)
    return out
