"""The decoder's recovery strategy, dedupe window and motion gate, on generated frames and photographs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import CATEGORIES, CCCD, HC1, code_frames, empty_frames, multi_code_frames, photo_frames
from kiosk.decode import DecodeConfig, DecodedCode, DedupeWindow, FrameScanner, MotionGate, QrDecoder
from kiosk.decode.decoder import CLAHE, HISTOGRAM, SHARPEN, overlaps, unique
from kiosk.decode.text import repair_mojibake, text_from_symbol
from kiosk.simulate import background, phone_scene, qr_image


def plain_reads(image: np.ndarray, payload: str) -> bool:
    return any(
        r.text == payload for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    )


@pytest.fixture(scope="module")
def corpus() -> list:
    return list(code_frames(per_category=1))


def test_decoder_reads_everything_the_plain_call_reads(corpus: list) -> None:
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=500))
    missed = [
        s.category + " " + s.size
        for s in corpus
        if plain_reads(s.image, s.payload) and s.payload not in [c.text for c in decoder.decode(s.image)]
    ]
    assert not missed


def test_recovery_reads_hard_frames_the_plain_call_misses(corpus: list) -> None:
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

    def test_when_the_code_leaves_the_first_empty_frame_is_the_reference(self) -> None:
        """Frames decoded because a code was in view make no thumbnail; the first of them whose decode
        finds nothing becomes the reference, so the empty scene after it is skipped again."""
        gate = MotionGate()
        scene, empty = phone_scene("x"), background(640, 480)
        assert gate.should_decode(scene, 0.0)
        gate.decoded(True)
        assert gate.should_decode(scene, 0.05) and gate.last_reason == "code"
        gate.decoded(True)
        assert gate.should_decode(empty, 0.1) and gate.last_reason == "code"
        gate.decoded(False)
        assert not gate.should_decode(empty, 0.15)
        assert gate.should_decode(scene, 0.2) and gate.last_reason == "motion"


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


# -- never fewer than the library -----------------------------------------------------------------


def _plain_symbols(image: np.ndarray) -> list[tuple[bytes, tuple]]:
    out = []
    for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
        p = r.position
        corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        out.append((bytes(r.bytes), tuple((c.x, c.y) for c in corners)))
    return out


def _sample_photos(samples: Path) -> list[np.ndarray]:
    images = []
    for path in sorted(samples.glob("zxing-cpp/*/*")):
        if path.suffix != ".txt" and (gray := cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)) is not None:
            images.append(gray)
    return images


@pytest.mark.parametrize("corpus_name", ["camera", "photos", "samples"])
def test_pipeline_reads_every_code_the_plain_call_reads_on_every_bench_frame(
    corpus_name: str, shared_samples: Path
) -> None:
    """The bench's corpora frame by frame, as bench/scan.py feeds them (motion gate on, default budget):
    every symbol the plain call returns is returned too (same bytes, same place), however many."""
    frames = {
        "camera": lambda: [s.image for s in code_frames(per_category=4)],
        "photos": lambda: [s.image for s in photo_frames(per_category=4)],
        "samples": lambda: _sample_photos(shared_samples),
    }[corpus_name]()
    scanner = FrameScanner(DecodeConfig(dedupe_window_s=0.0, learned_detector=False))
    missed, plain_total = [], 0
    for i, frame in enumerate(frames):
        got = scanner.scan(frame, 100.0 + i / 15)
        for raw, position in _plain_symbols(frame):
            plain_total += 1
            if not any(c.raw == raw and overlaps(c.position, position) for c in got):
                missed.append((i, raw[:20]))
    assert plain_total >= len(frames) // 2
    assert not missed


def test_every_code_of_a_frame_with_several_is_returned() -> None:
    decoder = QrDecoder()
    for sample in multi_code_frames(per_size=6):
        texts = [c.text for c in decoder.decode(sample.image)]
        assert sorted(texts) == sorted(sample.payloads), sample.size


def test_the_same_payload_in_two_places_is_two_codes() -> None:
    """A sheet of identical passes: dedupe is by payload *and* position."""
    code = qr_image("VNP1:SAME", 6)
    frame = np.full((400, 700), 200, np.uint8)
    h, w = code.shape
    frame[50 : 50 + h, 40 : 40 + w] = code
    frame[50 : 50 + h, 400 : 400 + w] = code
    assert len(_plain_symbols(frame)) == 2
    assert [c.text for c in QrDecoder().decode(frame)] == ["VNP1:SAME", "VNP1:SAME"]
    a = DecodedCode("x", b"x", ((0, 0), (10, 0), (10, 10), (0, 10)), "plain")
    b = DecodedCode("x", b"x", ((1, 1), (11, 1), (11, 11), (1, 11)), "histogram")
    assert unique([a, b]) == [a]


# -- budget by design -----------------------------------------------------------------------------


def _hard_frame() -> np.ndarray:
    """A frame nothing in the cheap path reads, so that every whole-frame attempt is planned."""
    frames = [s.image for s in code_frames(per_category=2) if s.category.startswith("motion_blur")]
    return next(f for f in frames if not _plain_symbols(f))


def test_attempts_run_in_order_of_expected_yield_per_millisecond() -> None:
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=2000), clock=lambda: 0.0)
    decoder.costs.relative = {SHARPEN.name: 0.01, HISTOGRAM.name: 50.0}  # measured here: sharpen is cheap
    decoder.decode(_hard_frame())
    order = [name for name in decoder.costs.ms if name != "plain"]
    assert order[0] == SHARPEN.name and order[-1] == HISTOGRAM.name


def test_an_attempt_that_would_overrun_the_budget_is_not_started() -> None:
    """The clock stands still: only the expected costs decide. A 10 ms budget cannot take an attempt
    measured here at 1000x the cheap path; the others still run."""
    decoder = QrDecoder(DecodeConfig(frame_budget_ms=10), clock=lambda: 0.0)
    decoder.costs.relative = {HISTOGRAM.name: 1000.0, CLAHE.name: 0.01, SHARPEN.name: 0.01}
    decoder.decode(_hard_frame())
    assert decoder.skipped_for_budget >= 1
    assert HISTOGRAM.name not in decoder.costs.ms
    assert {CLAHE.name, SHARPEN.name} <= set(decoder.costs.ms)


def test_a_card_entering_a_dark_scene_is_decoded_at_once() -> None:
    """At dusk a card changes pixels by a few grey levels only: still motion, not sensor noise."""
    rng = np.random.default_rng(3)
    dark = (background(640, 480).astype(np.float32) * 0.12).astype(np.uint8)
    gate = MotionGate()
    noisy = [np.clip(dark + rng.normal(0, 1.5, dark.shape), 0, 255).astype(np.uint8) for _ in range(10)]
    assert [gate.should_decode(f, i / 15) for i, f in enumerate(noisy)].count(True) == 1
    gate.decoded(False)
    card = (phone_scene(CCCD).astype(np.float32) * 0.12).astype(np.uint8)
    assert gate.should_decode(card, 0.8) and gate.last_reason == "motion"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codes=st.lists(
        st.tuples(
            st.integers(0, 10**9),  # payload
            st.integers(2, 6),  # pixels per module
            st.booleans(),  # dark theme: light modules on black
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 1000),
)
def test_any_number_of_codes_the_plain_call_reads_the_decoder_reads(
    codes: list[tuple[int, int, bool]], seed: int
) -> None:
    """Frames with one to four codes of mixed sizes and themes, placed side by side on a textured scene."""
    frame = background(1280, 720, seed).copy()
    x = 10
    for payload, module_px, dark in codes:
        symbol = qr_image(f"VNP1:{payload}", module_px)
        if dark:
            symbol = 255 - symbol
        h, w = symbol.shape
        if x + w > frame.shape[1] or h > frame.shape[0]:
            break
        y = (seed * 7 + x) % (frame.shape[0] - h + 1)
        frame[y : y + h, x : x + w] = symbol
        x += w + 10
    got = QrDecoder().decode(frame)
    for raw, position in _plain_symbols(frame):
        assert any(c.raw == raw and overlaps(c.position, position) for c in got), raw
