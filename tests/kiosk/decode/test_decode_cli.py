"""`kiosk decode` contract: JSON lines, exact texts on the real sample photographs, exit codes."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import zxingcpp
from click.testing import CliRunner

from bench.corpus import multi_code_frames
from kiosk.commands import decode
from kiosk.decode import learned
from kiosk.simulate import phone_scene
from tests.conftest import REPO_ROOT

CCCD = "079084012345|023456789|Lê Văn Cường|03031984|Nam|Tổ 2, Phường D, Thành phố E, Tỉnh F|23092024||||"


def run_decode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "decode", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )


def test_json_line_format_with_vietnamese_text(tmp_path: Path) -> None:
    image = tmp_path / "card.png"
    cv2.imwrite(str(image), phone_scene(CCCD))
    result = run_decode(str(image))
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    record = json.loads(line)
    assert set(record) == {"image", "text", "bytes", "position"}
    assert record["image"] == str(image)
    assert record["text"] == CCCD
    assert base64.b64decode(record["bytes"]) == CCCD.encode("utf-8")
    assert len(record["position"]) == 4 and all(len(p) == 2 for p in record["position"])
    xs = [p[0] for p in record["position"]]
    assert 200 < min(xs) < max(xs) < 440  # the code sits in the middle of the frame


def test_image_without_a_code_prints_nothing_and_exits_0(tmp_path: Path) -> None:
    image = tmp_path / "empty.png"
    cv2.imwrite(str(image), phone_scene("x")[:50, :50])
    result = run_decode(str(image))
    assert result.returncode == 0 and result.stdout == ""


def test_unreadable_files_are_named_and_the_rest_still_decoded(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), phone_scene("PASS-1"))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG garbage")
    result = run_decode(str(tmp_path / "missing.jpg"), str(junk), str(good))
    assert result.returncode == 1
    assert f"{tmp_path / 'missing.jpg'}: no such file" in result.stderr
    assert f"{junk}: not an image" in result.stderr
    assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == ["PASS-1"]


def test_no_arguments_is_a_usage_error() -> None:
    assert run_decode().returncode == 2


def test_samples_every_text_the_plain_call_reads_is_returned_exactly(shared_samples: Path) -> None:
    """On the real photographs: whatever plain zxing-cpp reads, `kiosk decode` returns exactly."""
    images, expected = [], {}
    for path in sorted(shared_samples.glob("zxing-cpp/*/*")):
        if path.suffix == ".txt":
            continue
        text_file = path.with_suffix(".txt")
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None or not text_file.exists():
            continue
        if zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode):
            images.append(str(path))
            expected[str(path)] = text_file.read_bytes().decode("utf-8")
    assert len(images) > 100
    result = run_decode(*images)
    assert result.returncode == 0, result.stderr
    got: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        got.setdefault(record["image"], []).append(record["text"])
    missing = {img: (expected[img], got.get(img)) for img in images if expected[img] not in got.get(img, [])}
    assert not missing, missing


def test_every_code_of_a_photo_with_several_is_printed(tmp_path: Path) -> None:
    sample = next(s for s in multi_code_frames(per_size=5, sizes=("1280x720",)) if len(s.payloads) >= 5)
    image = tmp_path / "sheet.png"
    cv2.imwrite(str(image), sample.image)
    result = run_decode(str(image))
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(x)["text"] for x in result.stdout.splitlines()) == sorted(sample.payloads)


def test_a_bad_model_file_stops_the_command_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    shutil.copytree(learned.MODEL_DIR, models)
    (models / "detect.prototxt").write_text("not the shipped file")
    monkeypatch.setattr(learned, "MODEL_DIR", models)
    image = tmp_path / "card.png"
    cv2.imwrite(str(image), phone_scene("PASS-1"))
    result = CliRunner().invoke(decode.command, [str(image)])
    assert result.exit_code == 1
    assert "detect.prototxt" in result.output and "MD5" in result.output
