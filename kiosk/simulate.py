"""Synthetic camera scenes: what the camera would see when people hold codes up to it.

Used by the demo (a replayed "street" of passers-by), the tests and the benchmarks, so that
everything runs on any machine without a camera. Scenes are deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import zxingcpp


def qr_image(payload: str, module_px: int = 4) -> np.ndarray:
    """A clean QR symbol (with quiet zone) as a grayscale image."""
    barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode)
    return np.array(zxingcpp.write_barcode_to_image(barcode, scale=module_px), dtype=np.uint8)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A static, mildly textured scene: a counter or a wall under shop light."""
    rng = np.random.default_rng(seed)
    base = np.linspace(90, 150, width, dtype=np.float32)[None, :].repeat(height, 0)
    blobs = cv2.GaussianBlur(rng.normal(0, 25, (height, width)).astype(np.float32), (0, 0), 15)
    return np.clip(base + blobs, 0, 255).astype(np.uint8)


def phone_scene(
    payload: str,
    width: int = 640,
    height: int = 480,
    seed: int = 0,
    module_px: int = 4,
    offset: tuple[int, int] = (0, 0),
    noise: float = 3.0,
) -> np.ndarray:
    """A phone held up with the code on its screen: dark bezel, bright screen, sensor noise."""
    frame = background(width, height, seed).astype(np.float32)
    code = qr_image(payload, module_px).astype(np.float32)
    ch, cw = code.shape
    bezel = 18
    ph, pw = ch + 2 * bezel + 60, cw + 2 * bezel
    top = max(0, min(height - ph, (height - ph) // 2 + offset[1]))
    left = max(0, min(width - pw, (width - pw) // 2 + offset[0]))
    frame[top : top + ph, left : left + pw] = 25.0
    screen = np.full((ch + 60, cw), 235.0, np.float32)
    screen[30 : 30 + ch, :] = code * (235.0 / 255.0) + 10.0 * (code < 128)
    frame[top + bezel : top + bezel + ch + 60, left + bezel : left + bezel + cw] = screen
    if noise > 0:
        frame += np.random.default_rng(seed + 1).normal(0, noise, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def write_replay_folder(
    folder: str | Path,
    script: Iterable[tuple[str | None, int]],
    width: int = 640,
    height: int = 480,
) -> list[Path]:
    """Render a scripted stream: each (payload or None for nobody, frame count) in order.

    A person holding a code moves a little from frame to frame, like a real hand.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    empty = background(width, height, seed=0)
    index = 0
    for person, (payload, frames) in enumerate(script):
        for i in range(frames):
            if payload is None:
                image = empty
            else:
                image = phone_scene(payload, width, height, seed=person * 100 + i, offset=(3 * i, -2 * i))
            path = out / f"{index:06d}.png"
            cv2.imwrite(str(path), image)
            paths.append(path)
            index += 1
    return paths


def script_for(
    payloads: Sequence[str], hold_frames: int = 6, gap_frames: int = 4
) -> list[tuple[str | None, int]]:
    """Each payload held up for a moment, with nobody in between."""
    script: list[tuple[str | None, int]] = [(None, gap_frames)]
    for payload in payloads:
        script += [(payload, hold_frames), (None, gap_frames)]
    return script
