"""Synthetic scenes used by the demo and benchmarks really carry the code they claim to."""

from __future__ import annotations

from pathlib import Path

import cv2
import zxingcpp

from kiosk.simulate import phone_scene, script_for, write_replay_folder

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"


def read(image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def test_phone_scene_carries_the_payload_with_diacritics() -> None:
    assert read(phone_scene(CCCD)) == [CCCD]


def test_replay_folder_follows_the_script(tmp_path: Path) -> None:
    paths = write_replay_folder(tmp_path, script_for(["A1", "B2"], hold_frames=2, gap_frames=1), 320, 240)
    assert len(paths) == 1 + 2 + 1 + 2 + 1
    texts = [read(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)) for p in paths]
    assert texts == [[], ["A1"], ["A1"], [], ["B2"], ["B2"], []]
