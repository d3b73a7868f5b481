"""The learned fallback: model files checked at start, what it reads, and that the frame loop never
waits for it (slow stand-ins injected through the LearnedReader interface; no wall-clock asserts)."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import zxingcpp

from bench.corpus import CCCD, empty_frames, photo_frames
from kiosk.decode import DecodeConfig, DecodedCode, FrameScanner, ModelFileError, QrDecoder, WeChatReader
from kiosk.decode.background import BackgroundReader
from kiosk.decode.learned import MODEL_DIR, MODEL_MD5, Region, merge_learned, verify_models

QUAD = ((10, 10), (90, 10), (90, 90), (10, 90))


def found(text: str) -> DecodedCode:
    return DecodedCode(text, text.encode(), QUAD, "learned")


class BlockingReader:
    """A learned detector that takes as long as the test wants: until `release` is set."""

    def __init__(self, result: list[DecodedCode]) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self.result = result

    def read(self, gray: np.ndarray) -> list[DecodedCode]:
        self.calls += 1
        self.started.set()
        assert self.release.wait(60), "the test never released the stand-in"
        return self.result


class CountingReader:
    def __init__(self) -> None:
        self.calls = 0

    def read(self, gray: np.ndarray) -> list[DecodedCode]:
        self.calls += 1
        return []


def moving_frames_without_a_code(count: int) -> list[np.ndarray]:
    """Someone walking past: every frame differs a lot from the last, no code anywhere."""
    rng = np.random.default_rng(5)
    return [rng.integers(0, 255, (480, 640), dtype=np.uint8) for _ in range(count)]


# -- model files ----------------------------------------------------------------------------------


def test_shipped_model_files_match_their_checksums() -> None:
    assert set(verify_models()) == set(MODEL_MD5)


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_bad_model_file_is_refused_at_start_naming_the_file(tmp_path: Path, damage: str) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODEL_DIR, models)
    if damage == "corrupt":
        data = bytearray((models / "sr.caffemodel").read_bytes())
        data[1000] ^= 0xFF
        (models / "sr.caffemodel").write_bytes(bytes(data))
    else:
        (models / "sr.caffemodel").unlink()
    with pytest.raises(ModelFileError, match=r"sr\.caffemodel"):
        WeChatReader(model_dir=models)


# -- what it reads --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader() -> WeChatReader:
    return WeChatReader()


@pytest.fixture(scope="module")
def zxing_misses_learned_reads(reader: WeChatReader) -> list:
    """Generated photographs the whole zxing-cpp path (recovery included) reads nothing in, and the
    learned reader reads."""
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=500))
    hard = [s for s in photo_frames(per_category=2) if not decoder.decode(s.image)]
    assert hard, "the photo set should hold frames the zxing-cpp path cannot read"
    return [s for s in hard if s.payload in [c.text for c in reader.read(s.image)]]


def test_it_reads_photographs_zxing_cpp_reads_nothing_in(zxing_misses_learned_reads: list) -> None:
    assert zxing_misses_learned_reads


def test_its_regions_go_to_zxing_cpp_for_exact_bytes(reader: WeChatReader) -> None:
    """A binary payload (not text): WeChat's decoder cannot hand it over, zxing-cpp on the region can."""
    payload = bytes(range(128, 200))
    symbol = np.array(
        zxingcpp.write_barcode_to_image(
            zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode), scale=5
        ),
        dtype=np.uint8,
    )
    frame = np.full((480, 640), 170, np.uint8)
    frame[100 : 100 + symbol.shape[0], 200 : 200 + symbol.shape[1]] = symbol
    codes = reader.read(frame)
    assert [c.raw for c in codes] == [payload]
    assert codes[0].strategy == "learned-region"


class RaisingWeChat:
    """OpenCV's binding turns the payload into `str` and fails on bytes that are not UTF-8."""

    def detectAndDecode(self, image: np.ndarray) -> tuple:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


def test_a_unicode_error_from_the_binding_falls_back_to_zxing_cpp_on_the_region(tmp_path: Path) -> None:
    reader = WeChatReader()
    reader._wechat = RaisingWeChat()
    payload = b"\xff\xfeVNP1-binary\x00\x01"
    symbol = np.array(
        zxingcpp.write_barcode_to_image(
            zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode), scale=3
        ),
        dtype=np.uint8,
    )
    frame = np.full((480, 640), 180, np.uint8)
    frame[200 : 200 + symbol.shape[0], 300 : 300 + symbol.shape[1]] = symbol
    h, w = symbol.shape
    region = Region(((300, 200), (300 + w, 200), (300 + w, 200 + h), (300, 200 + h)), 1.0)
    codes = reader._wechat_on(frame, region)
    assert reader.unicode_errors == 1
    assert [c.raw for c in codes] == [payload]
    (x0, y0), _, (x1, y1), _ = codes[0].position
    assert 290 <= x0 < x1 <= 310 + w and 190 <= y0 < y1 <= 210 + h  # back in frame coordinates


def test_merge_keeps_zxing_bytes_where_both_read_the_same_symbol() -> None:
    exact = DecodedCode("Café", "Café".encode("latin-1"), QUAD, "plain")
    guessed = DecodedCode("Café", "Café".encode(), QUAD, "learned")
    elsewhere = DecodedCode("B", b"B", ((200, 200), (260, 200), (260, 260), (200, 260)), "learned")
    assert merge_learned([exact], [guessed, elsewhere]) == [exact, elsewhere]


# -- never in the frame loop's way ----------------------------------------------------------------


def test_a_slow_learned_detector_never_holds_up_the_frame_loop() -> None:
    """The stand-in does not return until released: if `scan` waited for it, this test would hang.
    Meanwhile every frame is scanned; frames offered while it is busy are dropped, not queued."""
    stand_in = BlockingReader([found(CCCD)])
    scanner = FrameScanner(DecodeConfig(dedupe_window_s=3.0, learned_max_duty=1.0), learned=stand_in)
    frames = moving_frames_without_a_code(30)
    try:
        for i, frame in enumerate(frames):
            assert scanner.scan(frame, i / 15) == []
        assert stand_in.started.wait(60) and stand_in.calls == 1  # it got the first frame, and only that
        assert scanner.stats.decoded_frames == 30
        assert scanner.background is not None and scanner.background.stats.dropped_busy == 29
    finally:
        stand_in.release.set()
    assert scanner.background.wait_idle(60)
    # Its code comes out of the next frame, once (the dedupe window applies to it as to any code).
    assert [c.text for c in scanner.scan(frames[0], 2.1)] == [CCCD]
    assert scanner.stats.learned_codes == 1
    scanner.close()


def test_the_learned_detector_keeps_to_its_duty_cycle_whatever_a_run_costs() -> None:
    """A run that takes 1 s (on a fake clock) at a duty of 0.25: the next may start 4 s after it began."""
    now = [0.0]

    class OneSecondReader:
        def read(self, gray: np.ndarray) -> list[DecodedCode]:
            now[0] += 1.0
            return []

    runner = BackgroundReader(OneSecondReader(), max_duty=0.25, clock=lambda: now[0])
    frame = np.zeros((48, 64), np.uint8)
    assert runner.offer(frame)
    assert runner.wait_idle(60)
    now[0] = 3.9
    assert not runner.offer(frame) and runner.stats.dropped_rate == 1
    now[0] = 4.0
    assert runner.offer(frame)
    assert runner.wait_idle(60) and runner.stats.runs == 2
    runner.close()


def test_a_failing_learned_detector_is_logged_and_scanning_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def read(self, gray: np.ndarray) -> list[DecodedCode]:
            raise RuntimeError("model exploded")

    scanner = FrameScanner(DecodeConfig(learned_max_duty=1.0), learned=Broken())
    frames = moving_frames_without_a_code(3)
    with caplog.at_level(logging.ERROR):
        scanner.scan(frames[0], 0.0)
        assert scanner.background is not None and scanner.background.wait_idle(60)
        assert scanner.scan(frames[1], 0.1) == []
    assert scanner.background.stats.errors == 1
    assert "learned QR reader failed" in caplog.text
    scanner.close()


def test_static_empty_scene_stays_cheap() -> None:
    """20 s of an empty doorway at 15 fps: the gate lets through the first frame and one per second;
    only the first gets recovery attempts and the learned detector (the gate saw something new), the
    timer's re-checks run the cheap path alone."""
    stand_in = CountingReader()
    scanner = FrameScanner(DecodeConfig(learned_max_duty=1.0), learned=stand_in)
    frames = [s.image for s in empty_frames(count=300)]
    scanner.scan(frames[0], 0.0)
    attempts_on_first = scanner.decoder.attempts_run
    for i, frame in enumerate(frames[1:], start=1):
        scanner.scan(frame, i / 15)
        assert scanner.background is not None
        scanner.background.wait_idle(60)
    assert scanner.stats.decoded_frames <= 21
    assert stand_in.calls == 1
    assert scanner.decoder.attempts_run == attempts_on_first
    scanner.close()


def test_the_default_scanner_reads_with_the_shipped_detector_what_zxing_cpp_cannot(
    zxing_misses_learned_reads: list,
) -> None:
    """End to end with the defaults: the frame goes by with nothing read; the code comes out of the
    next frame (here: after waiting for the worker, as a code held up gives it time)."""
    sample = zxing_misses_learned_reads[0]
    scanner = FrameScanner(DecodeConfig())
    assert scanner.background is not None and isinstance(scanner.background.reader, WeChatReader)
    assert scanner.scan(sample.image, 0.0) == []
    assert scanner.background.wait_idle(120)
    assert [c.text for c in scanner.scan(sample.image, 0.1)] == [sample.payload]
    scanner.close()
