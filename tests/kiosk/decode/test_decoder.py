"""The decoder's recovery strategy, dedupe window and motion gate, on generated frames."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp

from bench.corpus import CATEGORIES, CCCD, HC1, code_frames, empty_frames
from kiosk.decode import DecodeConfig, DedupeWindow, FrameScanner, MotionGate, QrDecoder
from kiosk.decode.text import repair_mojibake, text_from_symbol
from kiosk.simulate import background, phone_scene


def plain_reads(image: np.ndarray, payload: str) -> bool:
    return any(
        r.text == payload for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    )


@pytest.fixture(scope="module")
def corpus() -> list:  # type: ignore[type-arg]
    return list(code_frames(per_category=1))


def test_decoder_reads_everything_the_plain_call_reads(corpus: list) -> None:  # type: ignore[type-arg]
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=500))
    missed = [
        s.category + " " + s.size
        for s in corpus
        if plain_reads(s.image, s.payload) and s.payload not in [c.text for c in decoder.decode(s.image)]
    ]
    assert not missed


def test_recovery_reads_hard_frames_the_plain_call_misses(corpus: list) -> None:  # type: ignore[type-arg]
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=500))
    hard = [s for s in corpus if not plain_reads(s.image, s.payload)]
    assert hard, "the corpus should contain frames the plain call cannot read"
    recovered = [s for s in hard if s.payload in [c.text for c in decoder.decode(s.image)]]
    assert recovered, [s.category for s in hard]
    assert all(c.strategy != "plain" for s in recovered for c in decoder.decode(s.image))


def test_recovery_stops_at_the_deadline() -> None:
    """With no time left, only the plain pass runs: a hard frame costs one library call."""
    glare_frames = [s for s in code_frames(per_category=2) if s.category.startswith("glare")]
    unreadable_plain = [s for s in glare_frames if not plain_reads(s.image, s.payload)]
    assert unreadable_plain
    ticks = iter(range(1000))
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=1), clock=lambda: float(next(ticks)))
    assert decoder.decode(unreadable_plain[0].image) == []


def test_decoder_refuses_non_grayscale_input() -> None:
    with pytest.raises(ValueError, match="grayscale"):
        QrDecoder().decode(np.zeros((10, 10, 3), np.uint8))


def test_position_and_text_of_a_vietnamese_payload() -> None:
    [code] = QrDecoder().decode(phone_scene(CCCD))
    assert code.text == CCCD and code.raw == CCCD.encode()
    (x0, y0), (x1, _), (_, y2), _ = code.position
    assert 200 < x0 < x1 < 440 and 100 < y0 < y2 < 380


def test_dense_hc1_sized_code_is_read() -> None:
    [code] = QrDecoder().decode(phone_scene(HC1, 1280, 720, module_px=5))
    assert code.text == HC1


def test_mojibake_is_repaired_but_honest_text_is_left_alone() -> None:
    name = "Nguyễn Văn An"
    garbled = name.encode("utf-8").decode("cp1252")
    assert repair_mojibake(garbled) == name
    for honest in ("Café", "naïve", "Ärger", "阿", "plain ascii"):
        assert repair_mojibake(honest) == honest
    assert text_from_symbol(b"\xff\xfe\x00binary", None) is None
    assert text_from_symbol(name.encode(), None) == name


class TestDedupeWindow:
    def test_a_code_held_up_for_ten_seconds_is_one_passage(self) -> None:
        window = DedupeWindow(window_s=3.0)
        sightings = [window.seen_recently(b"pass-1", t / 15) for t in range(150)]  # 15 fps for 10 s
        assert sightings.count(False) == 1 and sightings[0] is False

    def test_the_same_code_after_a_pause_longer_than_the_window_is_a_new_passage(self) -> None:
        window = DedupeWindow(window_s=3.0)
        assert window.seen_recently(b"a", 0.0) is False
        assert window.seen_recently(b"a", 2.9) is True
        assert window.seen_recently(b"a", 5.8) is True  # the window slides with each sighting
        assert window.seen_recently(b"a", 9.0) is False

    def test_different_codes_are_separate_passages(self) -> None:
        window = DedupeWindow(window_s=3.0)
        assert [window.seen_recently(c, 0.1) for c in (b"a", b"b", b"a")] == [False, False, True]

    def test_memory_is_bounded(self) -> None:
        window = DedupeWindow(window_s=1e9, max_entries=10)
        for i in range(1000):
            window.seen_recently(str(i).encode(), float(i))
        assert len(window) == 10

    def test_zero_window_counts_every_sighting(self) -> None:
        window = DedupeWindow(window_s=0.0)
        assert [window.seen_recently(b"a", 1.0) for _ in range(3)] == [False, False, False]


class TestMotionGate:
    def test_static_noisy_scene_is_skipped_until_the_timer(self) -> None:
        gate = MotionGate(max_skip_s=1.0)
        frames = [s.image for s in empty_frames(count=30)]
        decisions = [gate.should_decode(f, i / 15) for i, f in enumerate(frames)]
        assert decisions[0] is True
        assert sum(decisions) == 2  # the first frame and one timer check after a second
        assert gate.skipped == 28

    def test_a_phone_entering_the_scene_is_decoded_at_once(self) -> None:
        gate = MotionGate()
        empty = background(640, 480)
        assert gate.should_decode(empty, 0.0)
        gate.decoded(False)
        assert not gate.should_decode(empty, 0.1)
        assert gate.should_decode(phone_scene("x"), 0.2)
        assert gate.last_reason == "motion"

    def test_while_a_code_is_in_view_every_frame_is_decoded(self) -> None:
        gate = MotionGate()
        scene = phone_scene("x")
        gate.should_decode(scene, 0.0)
        gate.decoded(True)
        assert gate.should_decode(scene, 0.05) and gate.last_reason == "code"


def test_scanner_reports_a_held_code_once_and_skips_the_empty_doorway() -> None:
    scanner = FrameScanner(DecodeConfig(dedupe_window_s=3.0))
    empty = [s.image for s in empty_frames(count=20)]
    holding = [phone_scene(CCCD, seed=i, offset=(i, -i)) for i in range(20)]
    passages = []
    for i, frame in enumerate(empty + holding + empty):
        passages += scanner.scan(frame, i / 15)
    assert [p.text for p in passages] == [CCCD]
    assert scanner.stats.decoded_frames < 20 + 20 + 5
    assert scanner.stats.codes >= 20


def test_every_corpus_category_exists() -> None:
    assert {
        "blur",
        "perspective",
        "rotation",
        "low_light",
        "glare",
        "noise",
        "inverted",
        "small",
        "moire",
    } <= set(CATEGORIES)
