"""The hub's signed updates change the next verdict: a flag turns a person red, a trust list admits
an issuer; both survive a kiosk restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
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
from provisioning.issuer import create_issuer_key, mint_pass
from testkit.linkrig import wait_for
from testkit.services import MosquittoBroker
from wire import flagsync, topics
from wire.envelope import seal
from wire.idhash import id_hash
from wire.trustlist import Skipped, TrustEntry, trust_payload

PERSON = "001099012345"
CCCD = f"{PERSON}|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
HUB = Ed25519PrivateKey.generate()


def comes_and_goes(payload: str):
    """The same person shows their code every 12 frames; nobody in between."""
    return lambda i: phone_scene(payload, seed=i % 12) if i % 12 < 3 else background(640, 480)


def make_service(tmp_path: Path, port: int, decisions: list[Decision], payload: str = CCCD) -> KioskService:
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
            "screen": {"port": 0},
        }
    )
    return KioskService(
        config,
        source=GeneratedSource(comes_and_goes(payload), fps=30),
        pin_factory=MockFactory(pin_class=MockPWMPin),
        on_decision=decisions.append,
    )


def publish_as_hub(broker: MosquittoBroker, topic: str, payload: bytes) -> None:
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    hub.connect(broker.host, broker.port)
    hub.loop_start()
    hub.publish(topic, payload, qos=1).wait_for_publish(5)
    hub.loop_stop()


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
        publish_as_hub(broker, topics.FLAGS_UPDATES, update)
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


def test_a_trust_list_from_the_hub_admits_a_new_issuer(broker: MosquittoBroker, tmp_path: Path) -> None:
    issuer = create_issuer_key("VN-NEW")
    now = datetime.now(UTC)
    a_pass = mint_pass(
        issuer, id_number="001099012349", name="Đỗ Thị Hoa", dob="1995-01-01",
        valid_from=now - timedelta(hours=1), valid_until=now + timedelta(days=1),
    )  # fmt: skip
    decisions: list[Decision] = []
    service = make_service(tmp_path, broker.port, decisions, payload=a_pass)
    thread = run_in_thread(service)
    try:
        wait_for(lambda: bool(decisions), 30, "a first scan")
        assert decisions[0].verdict.outcome.value == "DENY" and "kid_unknown" in decisions[0].verdict.reasons
        wait_for(lambda: service.link is not None and service.link.connected, 10, "the link")
        spki = issuer.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # One entry no kiosk can use (and one the hub skipped) never refuse the rest of the list.
        entries = [TrustEntry("public_key", spki, "pass"), TrustEntry("certificate", b"\x30\x00", "dcc")]
        payload = trust_payload(entries, [Skipped("DSC.json #7 FI", "rawData is not base64")])
        publish_as_hub(broker, topics.TRUST, seal(HUB, "trust", 1, payload, now))
        wait_for(lambda: service.verifier.verifier.trust.version == 1, 10, "the trust list to be applied")
        assert service.status_fields()["trust"] == {"version": 1, "dcc": 0, "pass": 1, "skipped": 2}
        applied_at = len(decisions)
        wait_for(lambda: len(decisions) >= applied_at + 3, 30, "more scans")
        assert all(d.verdict.outcome.value == "PASS" for d in decisions[applied_at + 1 :])
    finally:
        service.stop_event.set()
        thread.join(30)
    again = make_service(tmp_path, broker.port, [], payload=a_pass)
    assert again.verifier.verifier.trust.version == 1  # the saved list is back before the first scan
    assert again.status_fields()["trust"]["skipped"] == 2
    again.shutdown()
