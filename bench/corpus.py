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
    others: tuple[str, ...] = ()  # further codes in the same frame (a sheet of passes, two phones)

    @property
    def payloads(self) -> tuple[str, ...]:
        """Every code in the frame: the bench counts codes, not frames."""
        return () if self.payload is None else (self.payload, *self.others)


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


# -- photographs ----------------------------------------------------------------------------------
# Generated stand-ins for real photographs of what people hold up: phone screens and printed cards
# under glare, blur, low light, curvature and damage, and frames with several codes. No third-party
# images: everything is drawn here from a seed.


def _card(payload: str, module_px: int, rng: np.random.Generator) -> np.ndarray:
    """A printed card: off-white paper, slightly grey ink, a printed border and text-like lines."""
    code = qr_image(payload, module_px).astype(np.float32) / 255.0
    paper, ink = 215.0 + rng.random() * 25, 30.0 + rng.random() * 25
    ch, cw = code.shape
    card = np.full((ch + 6 * module_px, cw + 24 * module_px), paper, np.float32)
    card[3 * module_px : 3 * module_px + ch, 2 * module_px : 2 * module_px + cw] = ink + code * (paper - ink)
    for row in range(4):  # the printed name and number next to the code
        y = 6 * module_px + row * 6 * module_px
        card[y : y + 2 * module_px, cw + 4 * module_px : cw + 20 * module_px] = ink + 60
    return card


def _screen(payload: str, module_px: int, rng: np.random.Generator, dark_theme: bool = False) -> np.ndarray:
    """A phone: dark bezel around a bright screen showing the code (light modules on black in dark theme)."""
    bright = int(225 + rng.random() * 25)
    code = (
        _code_on_screen(payload, module_px, screen=25, ink=bright)
        if dark_theme
        else _code_on_screen(payload, module_px, screen=bright)
    )
    ch, cw = code.shape
    phone = np.full((ch + 24 * module_px, cw + 6 * module_px), 20.0, np.float32)
    phone[12 * module_px : 12 * module_px + ch, 3 * module_px : 3 * module_px + cw] = code
    return phone


def _tilt(patch: np.ndarray, rng: np.random.Generator, amount: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """A hand-held object: a random small perspective tilt. Returns the warped patch and its mask."""
    h, w = patch.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-amount, amount, (4, 2)).astype(np.float32) * np.float32([w, h])
    dst = src + jitter
    dst -= dst.min(axis=0)
    size = (int(dst[:, 0].max()) + 1, int(dst[:, 1].max()) + 1)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(patch, m, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(patch), m, size, flags=cv2.INTER_LINEAR)
    return warped, mask


def _paste(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, cx: int, cy: int) -> None:
    h, w = patch.shape
    y0, x0 = max(0, cy - h // 2), max(0, cx - w // 2)
    y1, x1 = min(canvas.shape[0], y0 + h), min(canvas.shape[1], x0 + w)
    p, m = patch[: y1 - y0, : x1 - x0], mask[: y1 - y0, : x1 - x0]
    canvas[y0:y1, x0:x1] = canvas[y0:y1, x0:x1] * (1 - m) + p * m


def _held(obj: np.ndarray, w: int, h: int, rng: np.random.Generator, tilt: float = 0.08) -> np.ndarray:
    canvas = background(w, h, int(rng.integers(1 << 30))).astype(np.float32)
    patch, mask = _tilt(obj, rng, tilt)
    _paste(canvas, patch, mask, w // 2 + int(rng.integers(-w // 12, w // 12)), h // 2)
    return canvas


def _module_px(payload: str, target_px: float) -> int:
    return max(2, round(target_px / qr_image(payload, 1).shape[0]))


def screen_glare(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A phone screen with a window's reflection: a bright, saturated band across part of the code."""
    image = _held(_screen(p, _module_px(p, h * 0.5), rng), w, h, rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(-0.8, 0.8)
    d = (xx - w * rng.uniform(0.35, 0.65)) * np.cos(angle) + (yy - h / 2) * np.sin(angle)
    band = 190.0 * np.exp(-(d**2) / (2 * (h * rng.uniform(0.03, 0.07)) ** 2))
    return _finish(image * 0.85 + band, rng, noise=3.0)


def screen_blur(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A phone moved while the shutter was open, slightly out of focus."""
    image = _held(_screen(p, _module_px(p, h * 0.55), rng), w, h, rng)
    length = int((5 + rng.integers(0, 5)) * h / 480)
    kernel = cv2.getRotationMatrix2D((length / 2, length / 2), float(rng.uniform(0, 180)), 1.0)
    line = np.zeros((length + 1, length + 1), np.float32)
    line[length // 2, :] = 1.0
    line = cv2.warpAffine(line, kernel, line.shape[::-1])
    line /= line.sum()
    image = cv2.GaussianBlur(cv2.filter2D(image, -1, line), (0, 0), 1.0 * h / 480)
    return _finish(image, rng, noise=3.0)


def card_low_light(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A printed card at dusk: dark, noisy, a little soft, lit from one side."""
    image = _held(_card(p, _module_px(p, h * 0.45), rng), w, h, rng)
    ramp = np.linspace(0.05, 0.16, w, dtype=np.float32)[None, :]
    image = cv2.GaussianBlur(image * ramp * rng.uniform(0.8, 1.2), (0, 0), 0.8)
    return _finish(image, rng, noise=2.0)


def card_curved(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A card bent around a hand or a code on a bottle: a cylindrical warp, edges foreshortened."""
    card = _card(p, _module_px(p, h * 0.5), rng)
    ch, cw = card.shape
    radius = cw * rng.uniform(0.45, 0.75)
    u = np.arange(cw, dtype=np.float32) - cw / 2  # output columns, centred
    span = radius * np.sin(min(np.pi / 2, (cw / 2) / radius))
    src_x = radius * np.arcsin(np.clip(u / (cw / 2) * span / radius, -1, 1)) + cw / 2
    map_x = np.repeat(src_x[None, :], ch, 0)
    squeeze = 1 + 0.06 * (1 - np.cos(np.clip(u / radius, -1.5, 1.5)))  # the far edges look shorter
    map_y = (np.arange(ch, dtype=np.float32)[:, None] - ch / 2) * squeeze[None, :] + ch / 2
    bent = cv2.remap(
        card, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR, borderValue=0
    )
    shade = (0.65 + 0.35 * np.cos(np.clip(u / radius, -1.5, 1.5)))[None, :]
    mask = cv2.remap(np.ones_like(card), map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR)
    canvas = background(w, h, int(rng.integers(1 << 30))).astype(np.float32)
    _paste(canvas, bent * shade, mask, w // 2, h // 2)
    return _finish(canvas, rng)


def card_damaged(p: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A worn card: scratches, a coffee stain, a folded crease and a torn-off corner."""
    module = _module_px(p, h * 0.5)
    card = _card(p, module, rng)
    ch, cw = card.shape
    paper = float(np.median(card))
    for _ in range(int(rng.integers(3, 7))):  # scratches: thin light lines across the ink
        pt1 = (int(rng.integers(0, cw)), int(rng.integers(0, ch)))
        pt2 = (int(rng.integers(0, cw)), int(rng.integers(0, ch)))
        cv2.line(card, pt1, pt2, paper * 0.95, max(1, module // 3))
    stain = np.zeros_like(card)
    centre = (int(rng.integers(cw // 5, cw // 2)), int(rng.integers(ch // 4, 3 * ch // 4)))
    cv2.ellipse(stain, centre, (module * 5, module * 4), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    card = card * (1 - 0.35 * cv2.GaussianBlur(stain, (0, 0), module))
    crease = int(rng.integers(ch // 3, 2 * ch // 3))
    card[crease : crease + max(1, module // 2), :] *= 0.8
    tear = np.array([[cw, ch], [cw - module * 7, ch], [cw, ch - module * 6]], np.int32)  # the text side
    cv2.fillPoly(card, [tear], 0.0)
    return _finish(_held(card, w, h, rng), rng)


PHOTO_CATEGORIES: dict[str, Transform] = {
    "screen_glare": screen_glare,
    "screen_blur": screen_blur,
    "card_low_light": card_low_light,
    "card_curved": card_curved,
    "card_damaged": card_damaged,
}


def _sheet(payloads: list[str], w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A desk with several passes or cards on it, each at its own place, size and tilt."""
    canvas = background(w, h, int(rng.integers(1 << 30))).astype(np.float32)
    cols = min(len(payloads), 3)
    rows = (len(payloads) + cols - 1) // cols
    cell_w, cell_h = w // cols, h // rows
    for i, payload in enumerate(payloads):
        target = min(cell_w, cell_h) * rng.uniform(0.55, 0.75)
        module = _module_px(payload, target)
        # Cards, phones, and every third object a phone in dark theme (light modules on black).
        obj = (
            _card(payload, module, rng)
            if i % 3 == 1
            else _screen(payload, module, rng, dark_theme=i % 3 == 2)
        )
        patch, mask = _tilt(obj, rng, 0.05)
        scale = min(1.0, 0.95 * cell_w / patch.shape[1], 0.95 * cell_h / patch.shape[0])
        if scale < 1.0:
            patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cx, cy = (i % cols) * cell_w + cell_w // 2, (i // cols) * cell_h + cell_h // 2
        _paste(canvas, patch, mask, cx, cy)
    return canvas


def multi_code_frames(per_size: int = 3, sizes: tuple[str, ...] = tuple(SIZES)) -> Iterator[Sample]:
    """Frames with two to six codes: a family's passes held up together, a sheet of printed passes."""
    for size in sizes:
        w, h = SIZES[size]
        for i in range(per_size):
            rng = np.random.default_rng(zlib.crc32(f"multi/{size}/{i}".encode()))
            count = 2 + i % 5
            payloads = [
                f"VNP1:PASS-{size}-{i}-{k:02d}-{int(rng.integers(1 << 30)):09d}" for k in range(count)
            ]
            if i % 3 == 2:
                payloads[-1] = CCCD  # a dense, UTF-8 code among short ones
            image = _finish(_sheet(payloads, w, h, rng), rng, noise=2.5)
            yield Sample("multi_code", size, payloads[0], image, tuple(payloads[1:]))


def photo_frames(per_category: int = 3, sizes: tuple[str, ...] = tuple(SIZES)) -> Iterator[Sample]:
    """The generated part of the real-photo set: phone screens and cards as people hold them up."""
    for name, transform in PHOTO_CATEGORIES.items():
        for size in sizes:
            w, h = SIZES[size]
            for kind, payload in PAYLOADS.items():
                for i in range(per_category):
                    rng = np.random.default_rng(zlib.crc32(f"photo/{name}/{size}/{kind}/{i}".encode()))
                    yield Sample(name, size, payload, transform(payload, w, h, rng))
    yield from multi_code_frames(per_category * 2, sizes)
