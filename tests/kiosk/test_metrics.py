"""The kiosk's Prometheus endpoint, scraped over HTTP from a running kiosk service (issue 15, item 6):
the figures move with what the kiosk does, and carry no personal data."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from prometheus_client import generate_latest

from kiosk.config import ConfigError, KioskConfig, load_config
from kiosk.pipeline import internal_error_verdict
from kiosk.service import KioskService
from kiosk.simulate import script_for, write_replay_folder
from testkit.linkrig import hub_database, start_hub, wait_for
from testkit.services import MosquittoBroker, free_port
from tests.kiosk.test_service import _retained
from tests.kiosk.test_watchdog import Camera
from tests.support.scrape import Scrape, scrape
from wire import topics

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"


def kiosk_config(
    tmp_path: Path, broker_port: int, payloads: list[str], kiosk_id: str = "kiosk-m"
) -> KioskConfig:
    camera = tmp_path / f"camera-{kiosk_id}"
    write_replay_folder(camera, script_for(payloads, hold_frames=4, gap_frames=20), 640, 480)
    return KioskConfig.model_validate(
        {
            "kiosk": {
                "kiosk_id": kiosk_id, "checkpoint_id": "cp-1", "state_dir": str(tmp_path / kiosk_id),
                "assume_clock_trusted": True,
            },
            "camera": {"source": "replay", "path": str(camera), "fps": 30, "loop": True},
            "decode": {"dedupe_window_s": 600},
            "policy": {"identity_only": "PASS"},
            "screen": {"enabled": False},
            "metrics": {"port": 0},
            "mqtt": {"port": broker_port, "backoff_min_s": 0.1, "backoff_max_s": 0.5, "ack_timeout_s": 2,
                     "status_interval_s": 1},
        }
    )  # fmt: skip


class Running:
    def __init__(self, config: KioskConfig) -> None:
        self.service = KioskService(config, pin_factory=MockFactory(pin_class=MockPWMPin))
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.service.metrics_server.url is not None, 20, "the metrics endpoint")
        self.url = str(self.service.metrics_server.url)

    def scrape(self) -> Scrape:
        return scrape(self.url)

    def stop(self) -> None:
        self.service.stop_event.set()
        self.thread.join(20)


@pytest.fixture
def offline_kiosk(tmp_path: Path) -> Iterator[Running]:
    kiosk = Running(kiosk_config(tmp_path, free_port(), [CCCD]))  # a broker nobody listens on
    yield kiosk
    kiosk.stop()


def test_a_scan_moves_the_verdict_counter_and_an_unsent_passage_shows_in_the_backlog(
    offline_kiosk: Running,
) -> None:
    verdict = {"outcome": "PASS", "kind": "cccd", "reason": "identity_only", "source": "scan"}
    wait_for(lambda: offline_kiosk.scrape().value("kiosk_verdicts_total", **verdict) == 1, 60, "one verdict")
    m = offline_kiosk.scrape()
    assert m.value("kiosk_verdicts_total") == 1  # exactly one passage, of that reason
    assert m.value("kiosk_outbox_backlog") == 1  # the broker is down: recorded, not delivered
    assert m.value("kiosk_link_configured") == 1 and m.value("kiosk_link_connected") == 0
    assert m.value("kiosk_decode_seconds_count") >= 1
    assert m.value("kiosk_decision_latency_seconds_count") == 1
    assert m.value("kiosk_frames_decoded_total") >= 1 and m.value("kiosk_camera_frames_total") >= 1
    assert m.value("kiosk_camera_up") == 1
    assert m.value("kiosk_clock_trusted") == 1 and m.value("kiosk_clock_state", reason="assumed") == 1
    assert m.value("kiosk_disk_free_bytes") > 0
    assert m.value("kiosk_check_level", check="broker") == 1  # WARN: offline
    assert m.value("kiosk_check_level", check="camera") == 0
    assert m.value("kiosk_document_version", document="flags") == 0
    assert m.value("kiosk_info", kiosk_id="kiosk-m", checkpoint_id="cp-1") == 1
    frames = m.value("kiosk_frames_scanned_total")
    wait_for(
        lambda: offline_kiosk.scrape().value("kiosk_frames_scanned_total") > frames, 20, "frames to move"
    )


def test_no_label_carries_the_id_number_the_name_or_an_id_hash(offline_kiosk: Running) -> None:
    wait_for(lambda: offline_kiosk.scrape().value("kiosk_verdicts_total") == 1, 60, "one verdict")
    with urllib.request.urlopen(offline_kiosk.url, timeout=10) as reply:
        text = reply.read().decode()
    flags = offline_kiosk.service.flags
    for secret in ("001099012345", "Nguyễn", "Nguy", str(flags.hash_id("001099012345"))):
        assert secret not in text


def test_backlog_drains_and_link_state_follows_once_the_hub_acks(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    db = hub_database(tmp_path / "hub.db")
    hub = start_hub(db, broker.port)
    kiosk = Running(kiosk_config(tmp_path, broker.port, [CCCD]))
    try:
        wait_for(lambda: kiosk.scrape().value("kiosk_link_events_acked_total") == 1, 60, "the hub's ack")
        m = kiosk.scrape()
        assert m.value("kiosk_outbox_backlog") == 0
        assert m.value("kiosk_link_connected") == 1
        assert m.value("kiosk_check_level", check="broker") == 0
        # The same self-checks ride in the retained status, compactly (kiosk/doctor/ `summary`).
        status = _retained(broker, topics.status("kiosk-m"))
        assert status["checks"]["levels"]["broker"] == "OK" and status["checks"]["levels"]["camera"] == "OK"
        assert set(status["checks"]) == {"worst", "levels", "problems"}
    finally:
        kiosk.stop()
        hub.stop()


def test_two_kiosks_in_one_process_keep_their_figures_apart(tmp_path: Path) -> None:
    port = free_port()
    a = KioskService(
        kiosk_config(tmp_path, port, [CCCD], "kiosk-a"), pin_factory=MockFactory(pin_class=MockPWMPin)
    )
    b = KioskService(
        kiosk_config(tmp_path, port, [CCCD], "kiosk-b"), pin_factory=MockFactory(pin_class=MockPWMPin)
    )
    try:
        assert a.metrics.registry is not b.metrics.registry
        a.metrics.verdict(internal_error_verdict("a test"), "scan")
        text_a, text_b = generate_latest(a.metrics.registry), generate_latest(b.metrics.registry)
        assert b'kiosk_id="kiosk-a"' in text_a and b'kiosk_id="kiosk-a"' not in text_b
        assert b'reason="internal_error"' in text_a and b'reason="internal_error"' not in text_b
    finally:
        a.shutdown()
        b.shutdown()


def test_the_metrics_address_is_validated_like_every_other_key(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        '[kiosk]\nkiosk_id = "k1"\ncheckpoint_id = "c1"\n[metrics]\nhost = "metrics.example"\nport = 70000\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert "metrics.host" in str(refused.value) and "metrics.port" in str(refused.value)
    path.write_text('[kiosk]\nkiosk_id = "k1"\ncheckpoint_id = "c1"\n[metrics]\nhost = "localhost"\n')
    assert load_config(path).metrics.host == "127.0.0.1"


def test_a_taken_port_leaves_the_kiosk_running_without_metrics(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        config = kiosk_config(tmp_path, free_port(), [CCCD])
        config = config.model_copy(
            update={"metrics": config.metrics.model_copy(update={"port": taken.getsockname()[1]})}
        )
        service = KioskService(config, pin_factory=MockFactory(pin_class=MockPWMPin))
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: service.pipeline.stats.decisions == 1, 60, "the kiosk to scan anyway")
            assert service.metrics_server.url is None
        finally:
            service.stop_event.set()
            thread.join(20)
    finally:
        taken.close()


def test_a_lost_camera_shows_as_a_failed_check_in_the_metrics_and_the_status(tmp_path: Path) -> None:
    camera = Camera()  # tests/kiosk/test_watchdog.py's stand-in: hardware is what the tests replace
    config = kiosk_config(tmp_path, free_port(), [CCCD])
    service = KioskService(config, source=camera, pin_factory=MockFactory(pin_class=MockPWMPin))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: service.metrics_server.url is not None, 20, "the metrics endpoint")
        url = str(service.metrics_server.url)
        wait_for(lambda: scrape(url).value("kiosk_camera_up") == 1, 20, "the camera running")
        assert scrape(url).value("kiosk_check_level", check="camera") == 0
        camera.gone.set()
        wait_for(lambda: scrape(url).value("kiosk_check_level", check="camera") == 2, 20, "camera FAIL")
        m = scrape(url)
        assert m.value("kiosk_camera_up") == 0 and m.value("kiosk_camera_failures_total") >= 1
        checks = service.status_fields()["checks"]
        assert checks["worst"] == "FAIL" and checks["levels"]["camera"] == "FAIL"
        assert any(p.startswith("camera: lost") for p in checks["problems"])
    finally:
        camera.released.set()
        service.stop_event.set()
        thread.join(20)
