"""The learned fallback: WeChat's CNN QR detector (OpenCV contrib `wechat_qrcode`) for frames zxing-cpp
could not read at all.

zxing-cpp finds a symbol by its finder patterns; glare, damage, curvature and bright spots break those
patterns while the code is still plainly visible. A small SSD detector trained on photographs finds
such codes by their look. It costs tens of zxing-cpp calls per frame, so it is a fallback: the frame
loop hands it frames through `kiosk.decode.background.BackgroundReader` (a worker thread at a limited
duty cycle), never waits for it.

How a frame is read (`WeChatReader.read`):
1. the detector (run here through `cv2.dnn`, so its regions are ours even when decoding fails) gives
   scored boxes;
2. each box is handed to zxing-cpp (upscaled crop, other binarizers, contrast normalisation): exact
   bytes, the same text rules as every other read;
3. a box zxing-cpp cannot read goes to WeChat's own decoder (its super-resolution model and its zxing
   port) on a crop around it. That binding returns `str`, so it raises `UnicodeDecodeError` on some
   binary payloads; then the crop is super-resolved with the same SR model and retried with zxing-cpp,
   which returns the bytes as they are.

The model files ship inside the package (kiosk/decode/models, Apache-2.0, see its README) and are
checked against their MD5 sums before loading: a corrupt or swapped file is refused with its name.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk.decode.decoder import DecodedCode, QrDecoder, Quad, as_quad, overlaps, unique
from kiosk.decode.text import text_from_symbol

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "models"
MODEL_MD5 = {
    "detect.prototxt": "6fb4976b32695f9f5c6305c19f12537d",
    "detect.caffemodel": "238e2b2d6f3c18d6c3a30de0c31e23cf",
    "sr.prototxt": "69db99927a70df953b471daaba03fbef",
    "sr.caffemodel": "cbfcd60361a73beb8c583eea7e8e6664",
}
# The detector sees the frame scaled to about this many pixels (WeChat's own choice: 400 x 400).
DETECT_AREA = 400.0 * 400.0


class ModelFileError(RuntimeError):
    """A model file is missing or is not the file we ship."""


class LearnedReader(Protocol):
    """What the scanner needs from a learned stage: the codes in one frame, however slowly."""

    def read(self, gray: np.ndarray) -> list[DecodedCode]: ...


@dataclass(frozen=True, slots=True)
class Region:
    quad: Quad
    score: float


def verify_models(directory: Path | None = None) -> dict[str, Path]:
    """Paths of the four model files, each checked against its MD5; ModelFileError names a bad one."""
    directory = directory or MODEL_DIR
    paths = {}
    for name, want in MODEL_MD5.items():
        path = directory / name
        try:
            digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        except OSError as exc:
            raise ModelFileError(f"learned QR detector: cannot read model file {path}: {exc}") from None
        if digest != want:
            raise ModelFileError(
                f"learned QR detector: model file {path} has MD5 {digest}, expected {want} "
                "(corrupt or replaced: reinstall the package)"
            )
        paths[name] = path
    return paths


class WeChatReader:
    """zxing-cpp on the regions WeChat's CNN detector finds, WeChat's own decoder for the rest."""

    def __init__(
        self,
        decoder: QrDecoder | None = None,
        threads: int = 1,
        min_score: float = 0.2,
        max_regions: int = 4,
        model_dir: Path | None = None,
    ) -> None:
        paths = verify_models(model_dir or MODEL_DIR)
        # OpenCV's thread pool is process-wide: one thread keeps the detector from taking every core
        # of a Pi away from the frame loop (it runs on a worker thread at low priority anyway).
        cv2.setNumThreads(threads)
        self._decoder = decoder or QrDecoder()
        self._min_score = min_score
        self._max_regions = max_regions
        self._net = cv2.dnn.readNetFromCaffe(str(paths["detect.prototxt"]), str(paths["detect.caffemodel"]))
        self._sr = cv2.dnn.readNetFromCaffe(str(paths["sr.prototxt"]), str(paths["sr.caffemodel"]))
        # The contrib build's module: opencv's bundled stubs describe the main build only.
        self._wechat = cv2.wechat_qrcode_WeChatQRCode(  # type: ignore[attr-defined]
            str(paths["detect.prototxt"]),
            str(paths["detect.caffemodel"]),
            str(paths["sr.prototxt"]),
            str(paths["sr.caffemodel"]),
        )
        self.unicode_errors = 0  # binary payloads the WeChat binding could not hand over as str

    def detect(self, gray: np.ndarray) -> list[Region]:
        """Scored boxes the CNN sees as QR codes, best first (at most `max_regions`)."""
        h, w = gray.shape
        scale = min(1.0, (DETECT_AREA / (w * h)) ** 0.5)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC) if scale < 1.0 else gray
        self._net.setInput(cv2.dnn.blobFromImage(small, 1.0 / 255), "data")
        out = self._net.forward("detection_output")  # (1, 1, N, 7): image, label, score, x0, y0, x1, y1
        regions = []
        for _, label, score, x0, y0, x1, y1 in out.reshape(-1, 7):
            if label != 1 or score < self._min_score:
                continue
            left, right = int(np.clip(x0 * w, 0, w - 1)), int(np.clip(x1 * w, 0, w - 1))
            top, bottom = int(np.clip(y0 * h, 0, h - 1)), int(np.clip(y1 * h, 0, h - 1))
            if right > left and bottom > top:
                regions.append(
                    Region(((left, top), (right, top), (right, bottom), (left, bottom)), float(score))
                )
        regions.sort(key=lambda r: r.score, reverse=True)
        return regions[: self._max_regions]

    def read(self, gray: np.ndarray) -> list[DecodedCode]:
        codes: list[DecodedCode] = []
        for region in self.detect(gray):
            found = self._decoder.read_region(gray, region.quad, "learned-region")
            codes += found or self._wechat_on(gray, region)
        return unique(codes)

    def _crop(self, gray: np.ndarray, region: Region, pad: float = 0.15) -> tuple[np.ndarray, int, int]:
        (left, top), _, (right, bottom), _ = region.quad
        px, py = int((right - left) * pad) + 2, int((bottom - top) * pad) + 2
        x0, y0 = max(0, left - px), max(0, top - py)
        return gray[y0 : bottom + py + 1, x0 : right + px + 1], x0, y0

    def _wechat_on(self, gray: np.ndarray, region: Region) -> list[DecodedCode]:
        crop, x0, y0 = self._crop(gray, region)
        try:
            texts, points = self._wechat.detectAndDecode(crop)
        except UnicodeDecodeError:
            # It read a symbol whose bytes are not UTF-8: get the bytes ourselves.
            self.unicode_errors += 1
            return self._super_resolved(crop, x0, y0)
        codes = []
        for text, corners in zip(texts, points, strict=False):
            if not text:
                continue
            quad = as_quad([(float(x) + x0, float(y) + y0) for x, y in corners[:4]])
            raw = text.encode("utf-8")
            codes.append(DecodedCode(text_from_symbol(raw, text), raw, quad, "learned"))
        return codes

    def _super_resolved(self, crop: np.ndarray, x0: int, y0: int) -> list[DecodedCode]:
        """zxing-cpp on the crop made 2x larger by the SR model (small crops) or by cubic interpolation."""
        if max(crop.shape) <= 240:
            self._sr.setInput(cv2.dnn.blobFromImage(crop, 1.0 / 255))
            big = np.clip(self._sr.forward()[0, 0] * 255.0, 0, 255).astype(np.uint8)
        else:
            big = cv2.resize(crop, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
        sy, sx = big.shape[0] / crop.shape[0], big.shape[1] / crop.shape[1]
        h, w = big.shape
        found = self._decoder.read_region(big, ((0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)), "learned")
        return [
            DecodedCode(
                c.text,
                c.raw,
                as_quad([(x / sx + x0, y / sy + y0) for x, y in c.position]),
                c.strategy,
            )
            for c in found
        ]


def merge_learned(found: list[DecodedCode], learned: list[DecodedCode]) -> list[DecodedCode]:
    """`found` plus the learned detector's codes it lacks. A code read by WeChat's own decoder carries
    its text re-encoded as UTF-8, not the symbol's exact bytes: where zxing-cpp already read a symbol at
    that place, zxing-cpp's bytes stand."""
    extra = [
        c
        for c in learned
        if not (c.strategy == "learned" and any(overlaps(c.position, k.position) for k in found))
    ]
    return unique([*found, *extra])
