"""A deterministic corpus of camera frames for the scan benchmark and the decode tests.

Categories follow what a kiosk really sees: phone screens (glare, moiré, dim or inverted themes)
and paper or ID cards (small, curved, worn, at an angle), under shop and roadside light, at
640×480 and 1280×720. Payloads are synthetic: a CCCD-sized identity string and a dense HC1-sized
one. Each frame is generated from its seed, so runs are comparable.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.simulate import background, qr_image

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
# A dense, HC1-like payload: prefix plus Base45 characters, the size of a real vaccination certificate.
_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
HC1 = "HC1:" + "".join(_B45[(i * 7 + i // 3) % 45] for i in range(560))
PAYLOADS = {"cccd": CCCD, "hc1": HC1}
SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}


@dataclass(frozen=True)
class Sample:
    category: str
    size: str
    payload: str | None  # None: a frame with no code
    image: np.ndarray


def _place(canvas: np.ndarray, patch: np.ndarray, cx: int, cy: int) -> None:
    h, w = patch.shape
    y0, x0 = max(0, cy - h // 2), max(0, cx - w // 2)
    y1, x1 = min(canvas.shape[0], y0 + h), min(canvas.shape[1], x0 + w)
    canvas[y0:y1, x0:x1] = patch[: y1 - y0, : x1 - x0]


def _code_on_screen(payload: str, module_px: int, screen: int = 235, ink: int = 15) -> np.ndarray:
    code = qr_image(payload, module_px).astype(np.float32) / 255.0
    return ink + code * (screen - ink)


def _render(payload: str, width: int, height: int, rng: np.random.Generator, target_px: float) -> np.ndarray:
    """A code of about `target_px` pixels across in the middle of a textured scene (float image)."""
    modules = qr_image(payload, 1).shape[0]
    module_px = max(1, round(target_px / modules))
    canvas = background(width, height, int(rng.integers(1 << 30))).astype(np.float32)
    patch = _code_on_screen(payload, module_px)
    jitter = (int(rng.integers(-width // 10, width // 10)), int(rng.integers(-height // 10, height // 10)))
    _place(canvas, patch, width // 2 + jitter[0], height // 2 + jitter[1])
    return canvas


def _finish(image: np.ndarray, rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    image = image + rng.normal(0, noise, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


# Each transform turns (payload, width, height, rng) into a uint8 frame.
Transform = Callable[[str, int, int, np.random.Generator], np.ndarray]


def clean(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    return _finish(_render(p, w, h, rng, h * 0.5), rng)


def blur(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    image = _render(p, w, h, rng, h * 0.55)
    k = 1.6 + rng.random() * 0.8
    return _finish(cv2.GaussianBlur(image, (0, 0), k * h / 480), rng)


def motion_blur(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    image = _render(p, w, h, rng, h * 0.55)
    length = int((7 + rng.integers(0, 4)) * h / 480)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return _finish(cv2.filter2D(image, -1, kernel), rng)


def perspective(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    image = _render(p, w, h, rng, h * 0.5)
    d = 0.16 + rng.random() * 0.06
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[w * d, h * d * 0.6], [w * (1 - d * 0.3), 0], [w, h], [w * d * 0.5, h * (1 - d)]])
    warped = cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), (w, h), borderValue=120)
    return _finish(warped, rng)


def rotation(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    image = _render(p, w, h, rng, h * 0.5)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20 + rng.random() * 50, 1.0)
    return _finish(cv2.warpAffine(image, m, (w, h), borderValue=120), rng)


def low_light(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    image = _render(p, w, h, rng, h * 0.5) * (0.07 + rng.random() * 0.03)
    return _finish(image, rng, noise=2.5)


def glare(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    image = _render(p, w, h, rng, h * 0.55)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * (0.4 + rng.random() * 0.2), h * (0.4 + rng.random() * 0.2)
    spot = 260.0 * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (h * 0.1) ** 2)))
    return _finish(image * 0.75 + spot, rng)


def noise(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    return _finish(_render(p, w, h, rng, h * 0.5), rng, noise=38.0)


def inverted(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A dark-theme phone screen: light modules on a dark background."""
    image = _render(p, w, h, rng, h * 0.5)
    return _finish(255.0 - image, rng)


def small(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """An ID card held far away: about two pixels a module."""
    modules = qr_image(p, 1).shape[0]
    return _finish(_render(p, w, h, rng, modules * 1.6), rng, noise=3.0)


def moire(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A phone screen filmed: the pixel grid beats with the sensor's into fine stripes."""
    image = _render(p, w, h, rng, h * 0.55)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = 0.9 + rng.random() * 0.3
    stripes = 40.0 * np.sin(f * xx + 0.7 * f * yy)
    return _finish(image + stripes, rng)


CATEGORIES: dict[str, Transform] = {
    "clean": clean,
    "blur": blur,
    "motion_blur": motion_blur,
    "perspective": perspective,
    "rotation": rotation,
    "low_light": low_light,
    "glare": glare,
    "noise": noise,
    "inverted": inverted,
    "small": small,
    "moire": moire,
}
EASY = frozenset({"clean", "rotation", "inverted"})


def code_frames(per_category: int = 3, sizes: tuple[str, ...] = tuple(SIZES)) -> Iterator[Sample]:
    for name, transform in CATEGORIES.items():
        for size in sizes:
            w, h = SIZES[size]
            for kind, payload in PAYLOADS.items():
                for i in range(per_category):
                    # A stable seed: Python's own hash() of a str differs in every process (PYTHONHASHSEED),
                    # which made the corpus, and what the plain call can read in it, change run to run.
                    rng = np.random.default_rng(zlib.crc32(f"{name}/{size}/{kind}/{i}".encode()))
                    yield Sample(f"{name}/{kind}", size, payload, transform(payload, w, h, rng))


def empty_frames(count: int = 30, size: str = "640x480") -> Iterator[Sample]:
    """A static doorway with sensor noise: the kiosk's most common view."""
    w, h = SIZES[size]
    base = background(w, h, seed=7).astype(np.float32)
    rng = np.random.default_rng(11)
    for _ in range(count):
        yield Sample("empty", size, None, _finish(base, rng, noise=1.5))
