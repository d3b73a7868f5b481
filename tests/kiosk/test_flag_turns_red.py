"""A flag published by the hub turns that person's next scan red, and survives a kiosk restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.camera.replay import GeneratedSource
from kiosk.config import KioskConfig
from kiosk.pipeline import Decision
from kiosk.service import KioskService
from kiosk.simulate import background, phone_scene
from kiosk.verify.flags import DEFAULT_KEY
from tests.support.linkrig import wait_for
from tests.support.services import MosquittoBroker
from wire import flagsync, topics
from wire.envelope import seal
from wire.idhash import id_hash

PERSON = "001099012345"
CCCD = f"{PERSON}|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
HUB = Ed25519PrivateKey.generate()


def person_comes_and_goes(i: int):  # type: ignore[no-untyped-def]
    """The same person shows their card every 12 frames; nobody in between."""
    return phone_scene(CCCD, seed=i % 12) if i % 12 < 3 else background(640, 480)


def make_service(tmp_path: Path, port: int, decisions: list[Decision]) -> KioskService:
    key_path = tmp_path / "hub.pub"
    key_path.write_bytes(
        HUB.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = KioskConfig.model_validate(
        {
            "kiosk": {
                "kiosk_id": "kiosk-1",
                "checkpoint_id": "sm-1",
                "state_dir": str(tmp_path / "state"),
                "assume_clock_trusted": True,
            },
            "decode": {"dedupe_window_s": 0.2},
            "policy": {"identity_only": "PASS"},
            "verify": {"hub_public_key": str(key_path)},
            "mqtt": {"port": port, "backoff_min_s": 0.05, "backoff_max_s": 0.5, "status_interval_s": 1},
        }
    )
    return KioskService(
        config,
        source=GeneratedSource(person_comes_and_goes, fps=30),
        pin_factory=MockFactory(pin_class=MockPWMPin),
        on_decision=decisions.append,
    )


def run_in_thread(service: KioskService) -> threading.Thread:
    thread = threading.Thread(target=service.run)
    thread.start()
    return thread


def test_flag_from_the_hub_turns_the_next_scan_red_and_survives_restart(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    decisions: list[Decision] = []
    service = make_service(tmp_path, broker.port, decisions)
    thread = run_in_thread(service)
    try:
        wait_for(lambda: any(d.verdict.outcome.value == "PASS" for d in decisions), 30, "a green scan")
        wait_for(lambda: service.link is not None and service.link.connected, 10, "the link")
        entry = flagsync.FlagEntry(
            id_hash(DEFAULT_KEY, PERSON), "F0", int(datetime.now(UTC).timestamp()) - 60
        )
        update = seal(HUB, "flags.delta", 1, flagsync.delta_payload(0, [entry]), datetime.now(UTC))
        hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        hub.connect(broker.host, broker.port)
        hub.loop_start()
        hub.publish(topics.FLAGS_UPDATES, update, qos=1).wait_for_publish(5)
        hub.loop_stop()
        wait_for(lambda: service.flags.version == 1, 10, "the delta to be applied")
        applied_at = len(decisions)
        wait_for(lambda: len(decisions) >= applied_at + 4, 30, "more scans of the same person")
        later = decisions[applied_at + 1 :]  # the first may have been verified just before the update
        assert all(d.verdict.outcome.value == "DENY" and "flag_f0" in d.verdict.reasons for d in later)
    finally:
        service.stop_event.set()
        thread.join(30)

    restarted: list[Decision] = []
    again = make_service(tmp_path, broker.port, restarted)
    assert again.flags.version == 1  # rebuilt from the saved update before the first scan
    thread = run_in_thread(again)
    try:
        wait_for(lambda: bool(restarted), 30, "a scan after restart")
        assert restarted[0].verdict.outcome.value == "DENY"
    finally:
        again.stop_event.set()
        thread.join(30)
