"""`kiosk decode IMAGE...`: the kiosk's own decoder (recovery strategy and learned detector included) on
image files.

A file is not a live frame: nothing waits for the next one, so every image gets the whole-frame
recovery attempts (even after a first code: photos can hold several) and the learned detector,
synchronously, its codes merged with zxing-cpp's.

One JSON line per code found: {"image", "text", "bytes" (base64), "position" ([[x, y]] × 4)}.
Exit 0 when every image was read, even with no code in it; 1 when an image could not be read
(the others are still decoded, and the message names the file).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import click
import cv2

from common.clitools import json_text
from kiosk.decode import DecodeConfig, ModelFileError, QrDecoder, WeChatReader
from kiosk.decode.learned import merge_learned

# Files are not frames from a live camera: give the recovery strategies a generous budget.
FILE_BUDGET_MS = 2000.0


@click.command("decode")
@click.argument("images", nargs=-1, required=True)
def command(images: tuple[str, ...]) -> None:
    """Print one JSON line per QR code found in each image."""
    config = DecodeConfig(frame_budget_ms=FILE_BUDGET_MS)
    decoder = QrDecoder(config)
    try:
        learned = WeChatReader(QrDecoder(config))
    except ModelFileError as exc:
        raise click.ClickException(str(exc)) from None
    unreadable = 0
    for image in images:
        gray = cv2.imread(image, cv2.IMREAD_GRAYSCALE) if Path(image).is_file() else None
        if gray is None:
            reason = "no such file" if not Path(image).exists() else "not an image OpenCV can read"
            click.echo(f"kiosk decode: {image}: {reason}", err=True)
            unreadable += 1
            continue
        codes = merge_learned(decoder.decode(gray, exhaustive=True), learned.read(gray))
        for code in codes:
            line = {
                "image": image,
                "text": code.text,
                "bytes": base64.b64encode(code.raw).decode("ascii"),
                "position": [list(p) for p in code.position],
            }
            sys.stdout.write(json_text(line, indent=None) + "\n")  # a QR's text may hold escape codes
    sys.stdout.flush()
    if unreadable:
        sys.exit(1)
