"""QR decoding with zxing-cpp, plus recovery attempts for what one library call misses.

The cheap path, on every frame that reaches the decoder, is exactly the library's default search
(`read_barcodes` with its defaults, asking for the symbols it located but could not decode as well).
So the decoder returns at least every code a plain library call returns on the same frame, however
many codes the frame holds. Recovery attempts only ever *add* codes: no pass returns early, and
results are merged by payload and position (two identical passes side by side are two codes).

Recovery attempts, run in order of expected codes per millisecond until the frame's budget is spent:

- symbols zxing-cpp located but could not decode (`return_errors=True` gives their corners): crop each
  with a margin, upscale it and retry with other binarizers and contrast normalisation. These run
  whenever such symbols exist, also next to codes already read (a frame with several codes);
- only when nothing was read (or for files, `exhaustive=True`): the whole frame with the global-histogram
  binarizer (uneven light, glare), contrast-normalised (CLAHE: dim screens, low light), sharpened
  (blur), and a 2x upscale of the central region (small codes held far away).

The budget is by design, not by luck: each attempt's cost is measured on this machine as it runs (a
moving average), and an attempt starts only if its expected cost still fits before the deadline, so
a slow machine (a Pi 4) skips the attempts it cannot afford instead of overrunning the frame. The
expected yields are measured on the bench corpus (bench/scan.py --attempts) and fixed here.

Texts use zxing-cpp's Plain text mode: the exact characters of the symbol, without the human-readable
escapes (`<SOH>`, GS1 parentheses) that HRI mode adds.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import zxingcpp

from kiosk.decode.config import DecodeConfig
from kiosk.decode.text import text_from_symbol

Point = tuple[int, int]
Quad = tuple[Point, Point, Point, Point]

QR = zxingcpp.BarcodeFormat.QRCode
_PLAIN_TEXT = zxingcpp.TextMode.Plain
_UINT8 = np.dtype(np.uint8)  # compared with every frame's dtype: a dtype, not the type (4x faster)


class DecodedCode(NamedTuple):
    """One QR symbol read from a frame. A named tuple, not a frozen dataclass: just as immutable, and
    built in a third of the time (one is built for every code on every frame a code is in view)."""

    text: str | None  # None for payloads that are not text
    raw: bytes
    position: Quad  # corners in frame pixels: top-left, top-right, bottom-right, bottom-left
    strategy: str  # which attempt read it: "plain", "region-upscale", "histogram", ..., "learned"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A recovery attempt's fixed traits: what it yields, and what it costs, per plain call."""

    name: str
    # Codes read per run on frames where the cheap path read nothing (bench/scan.py --attempts).
    expected_yield: float
    # Its cost in units of one plain library call on the same frame, before it has been measured here.
    relative_cost: float


# Measured with `bench/scan.py --attempts` (409 frames: camera corpus, generated and real photographs;
# two runs) on frames where the cheap path read nothing: codes an attempt added per run, and its time
# over the cheap path's mean. On frames where the cheap path read a code, no whole-frame attempt added
# any (so live frames skip them; files, `exhaustive=True`, still try). Resulting order before anything
# is measured here: histogram, centre upscale, region, CLAHE, sharpen.
REGION = Attempt("region-upscale", expected_yield=0.14, relative_cost=2.5)
HISTOGRAM = Attempt("histogram", expected_yield=0.07, relative_cost=0.45)
CLAHE = Attempt("clahe", expected_yield=0.23, relative_cost=4.5)
SHARPEN = Attempt("sharpen", expected_yield=0.18, relative_cost=4.0)
CENTER = Attempt("center-upscale", expected_yield=0.07, relative_cost=1.2)
WHOLE_FRAME = (HISTOGRAM, CLAHE, SHARPEN, CENTER)


def _quad(position: zxingcpp.Position, scale: float = 1.0, offset: Point = (0, 0)) -> Quad:
    pts = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    if scale == 1.0 and offset == (0, 0):  # the cheap path's case: zxing-cpp's points are ints already
        tl, tr, br, bl = ((p.x, p.y) for p in pts)
        return tl, tr, br, bl
    ox, oy = offset
    return as_quad([(p.x / scale + ox, p.y / scale + oy) for p in pts])


def as_quad(corners: Sequence[tuple[float, float]]) -> Quad:
    """The first four corners, rounded to pixels (a Quad is exactly four: a shorter list raises)."""
    a, b, c, d = ((round(x), round(y)) for x, y in corners[:4])
    return a, b, c, d


def _read(
    image: np.ndarray,
    binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
    return_errors: bool = False,
    downscale: bool = True,
    invert: bool = True,
) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(
        image,
        formats=QR,  # type: ignore[arg-type]  # a BarcodeFormat converts (documented); the stub says Formats
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=binarizer,
        return_errors=return_errors,
        try_downscale=downscale,
        try_invert=invert,
    )


class CostModel:
    """What each attempt costs on this machine, as a multiple of the cheap path on the same frame.

    Measured as attempts run (a moving average), so the schedule follows this machine's speed and the
    frame's size: on a Pi the cheap path itself is slower, and so is every attempt's expected cost.
    Before an attempt has run here, its fixed `relative_cost` stands in.
    """

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self.relative: dict[str, float] = {}
        self.ms: dict[str, float] = {}  # moving averages of absolute times
        self.totals: dict[str, tuple[int, float]] = {}  # runs and total ms, for reports

    def expected_ms(self, attempt: Attempt, plain_ms: float) -> float:
        return self.relative.get(attempt.name, attempt.relative_cost) * plain_ms

    def observe(self, name: str, ms: float, plain_ms: float | None = None) -> None:
        self.ms[name] = self._average(self.ms.get(name), ms)
        runs, total = self.totals.get(name, (0, 0.0))
        self.totals[name] = (runs + 1, total + ms)
        if plain_ms:
            self.relative[name] = self._average(self.relative.get(name), ms / plain_ms)

    def _average(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.alpha * (new - old)


class QrDecoder:
    """Stateless apart from reusable helpers and the cost model; safe to call from one thread at a time."""

    def __init__(
        self, config: DecodeConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or DecodeConfig()
        self._clock = clock
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
        self.costs = CostModel()
        self.last_plain_ms = 0.0  # the library call's time on the last frame (bench: fixed cost per frame)
        self.plain_runs = 0  # cheap-path calls and their total time, for reports
        self.plain_total_ms = 0.0
        self.attempts_run = 0  # recovery attempts started (reports, tests)
        self.skipped_for_budget = 0  # attempts not started because they would not fit the budget

    def decode(
        self,
        gray: np.ndarray,
        deadline: float | None = None,
        recover: bool = True,
        exhaustive: bool = False,
    ) -> list[DecodedCode]:
        """All QR codes in a grayscale frame. Recovery stops at `deadline` (monotonic seconds).

        With `recover=False` only symbols that zxing-cpp located are retried, not the whole frame.
        With `exhaustive=True` (files, not live frames) the whole-frame attempts run even when the
        library already read a code, to find more codes in a frame that holds several.
        """
        if gray.ndim != 2 or gray.dtype != _UINT8:
            raise ValueError(f"expected a 2-D uint8 grayscale image, got {gray.dtype} {gray.shape}")
        if deadline is None:
            deadline = self._clock() + self.config.frame_budget_ms / 1000.0
        # The cheap path: the library's own default search, so nothing a plain call reads is missed.
        # Called directly, not through `_read`: this runs on every frame, and every Python call and
        # argument after a library call over a whole frame runs with cold caches (measured: the fixed
        # cost of a frame with a code is most of what the pipeline adds to the plain call).
        t0 = time.perf_counter()
        first = zxingcpp.read_barcodes(
            gray,
            formats=QR,  # type: ignore[arg-type]  # a BarcodeFormat converts (documented); the stub says Formats
            text_mode=_PLAIN_TEXT,
            return_errors=True,
        )
        plain_ms = max((time.perf_counter() - t0) * 1000, 0.05)
        self.last_plain_ms = plain_ms
        self.plain_runs += 1  # (attempts are costed relative to this frame's time, not an average)
        self.plain_total_ms += plain_ms
        found: list[DecodedCode] = []
        failed: list[zxingcpp.Barcode] = []
        for barcode in first:
            if not barcode.valid:
                failed.append(barcode)
                continue
            raw = barcode.bytes  # `_code`, inlined for the cheap path's case
            text: str | None = barcode.text
            if type(raw) is not bytes:
                raw = bytes(raw)
            if text is None or not text.isascii():
                text = text_from_symbol(raw, text)
            p = barcode.position
            tl, tr, br, bl = p.top_left, p.top_right, p.bottom_right, p.bottom_left
            quad = ((tl.x, tl.y), (tr.x, tr.y), (br.x, br.y), (bl.x, bl.y))
            found.append(DecodedCode(text, raw, quad, "plain"))
        whole_frame = recover and (exhaustive or not found)
        if not failed and not whole_frame:
            # The common frame with a code: the library read every symbol it located. Nothing to
            # retry, nothing to merge (one call gives one entry per symbol; `unique` only guards
            # against a repeat), so the decoder costs the library call and little else.
            return found if len(found) < 2 else unique(found)
        failed = [b for b in failed if not any(overlaps(_quad(b.position), c.position) for c in found)]
        del failed[self.config.retry_regions :]
        plan: list[tuple[Attempt, Callable[[], list[DecodedCode]]]] = [
            (REGION, functools.partial(self._retry_region, gray, symbol)) for symbol in failed
        ]
        if whole_frame:
            plan += [(attempt, self._whole_frame(gray, attempt)) for attempt in WHOLE_FRAME]
        plan.sort(
            key=lambda item: item[0].expected_yield / self.costs.expected_ms(item[0], 1.0), reverse=True
        )
        for attempt, run in plan:
            if self._clock() + self.costs.expected_ms(attempt, plain_ms) / 1000.0 > deadline:
                self.skipped_for_budget += 1
                continue  # a cheaper attempt further down may still fit
            self.attempts_run += 1
            t0 = time.perf_counter()
            codes = run()
            self.costs.observe(attempt.name, (time.perf_counter() - t0) * 1000, plain_ms)
            found += [DecodedCode(c.text, c.raw, c.position, attempt.name) for c in codes]
        return unique(found)

    # -- recovery -------------------------------------------------------------------------------

    def _whole_frame(self, gray: np.ndarray, attempt: Attempt) -> Callable[[], list[DecodedCode]]:
        if attempt is HISTOGRAM:
            return lambda: self._whole(gray, zxingcpp.Binarizer.GlobalHistogram)
        if attempt is CLAHE:
            return lambda: self._whole(self._clahe.apply(gray))
        if attempt is SHARPEN:
            return lambda: self._whole(_unsharp(gray))
        return lambda: self._center_upscale(gray)

    def _whole(
        self, image: np.ndarray, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage
    ) -> list[DecodedCode]:
        return [self._code(b, "") for b in _read(image, binarizer) if b.valid]

    def _retry_region(self, gray: np.ndarray, symbol: zxingcpp.Barcode) -> list[DecodedCode]:
        return self.read_region(gray, _quad(symbol.position))

    def read_region(self, gray: np.ndarray, quad: Iterable[Point], strategy: str = "") -> list[DecodedCode]:
        """Codes in one region of the frame (a located symbol's corners): a crop with a margin,
        upscaled, under several binarizers and contrast normalisation; first success wins."""
        xs, ys = zip(*quad, strict=True)
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
                self._code(b, strategy, scale, (x0, y0))
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
        raw = barcode.bytes
        if type(raw) is not bytes:  # zxing-cpp 3 gives bytes already; older releases a bytearray
            raw = bytes(raw)
        text: str | None = barcode.text
        if text is None or not text.isascii():  # ASCII, the usual payload, needs no repair
            text = text_from_symbol(raw, text)
        return DecodedCode(text, raw, _quad(barcode.position, scale, offset), strategy)


def _unsharp(image: np.ndarray) -> np.ndarray:
    """Unsharp mask, strong enough to pull blurred modules apart (tuned on bench/corpus.py)."""
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    return cv2.addWeighted(image, 2.5, blurred, -1.5, 0)


def overlaps(a: Quad, b: Quad) -> bool:
    """True if the centre of either quad lies inside the other's bounding box: the same symbol."""

    def centre_in(p: Quad, q: Quad) -> bool:
        cx, cy = sum(x for x, _ in p) / 4, sum(y for _, y in p) / 4
        xs, ys = [x for x, _ in q], [y for _, y in q]
        return min(xs) <= cx <= max(xs) and min(ys) <= cy <= max(ys)

    return centre_in(a, b) or centre_in(b, a)


def unique(codes: Iterable[DecodedCode]) -> list[DecodedCode]:
    """One entry per symbol: the same payload found twice at one place (two scales, two attempts) is
    one code; the same payload at two places (a sheet of identical passes) is two. First one wins."""
    out: list[DecodedCode] = []
    for code in codes:
        if not any(code.raw == kept.raw and overlaps(code.position, kept.position) for kept in out):
            out.append(code)
    return out
