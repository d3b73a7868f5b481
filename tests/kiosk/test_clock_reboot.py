"""A kiosk rebooted with its clock in the past (issue 12 item 1), as a whole service: the hub's
signed time and the kiosk's own passages left a floor on the SD card, and the floor decides.

First boot: real time, a real broker; the hub flags a person F0 (signed, with its time). Second
boot: the clock three days behind (an RTC set wrong, assumed right), no network. Before the floor,
the F0 person's bare ID card passed at this self-scan kiosk (the flag "starts" in the clock's
future) and a pass that expired yesterday was green again.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.camera.replay import GeneratedSource
from kiosk.config import KioskConfig
from kiosk.pipeline import Decision
from kiosk.service import TIME_FLOOR_FILE, KioskService
from kiosk.simulate import background, phone_scene
from kiosk.verify.flags import DEFAULT_KEY
from provisioning.issuer import create_issuer_key, mint_pass, save_issuer_key
from testkit.linkrig import wait_for
from testkit.services import MosquittoBroker
from wire import flagsync, topics
from wire.envelope import seal
from wire.idhash import id_hash

F0_PERSON = "001099012345"
CCCD = f"{F0_PERSON}|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
HUB = Ed25519PrivateKey.generate()
DAYS_BEHIND = 3


def shown_in_turn(payloads: list[str]):
    """Each payload in turn for 3 frames, background in between."""

    def frame(i: int):
        if i % 12 >= 3:
            return background(640, 480)
        return phone_scene(payloads[(i // 12) % len(payloads)], seed=i % 12)

    return frame


def make_service(
    tmp_path: Path, port: int | None, payloads: list[str], decisions: list[Decision], **kw: Any
) -> KioskService:
    key_path = tmp_path / "hub.pub"
    key_path.write_bytes(
        HUB.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    doc: dict[str, Any] = {
        "kiosk": {
            "kiosk_id": "kiosk-1",
            "checkpoint_id": "sm-1",
            "state_dir": str(tmp_path / "state"),
            "assume_clock_trusted": True,
        },
        "decode": {"dedupe_window_s": 0.2},
        "policy": {"identity_only": "PASS"},  # self-scan: a bare ID card passes
        "verify": {"hub_public_key": str(key_path), "trust": [str(tmp_path / "issuers")]},
        "screen": {"enabled": False},
    }
    if port is not None:
        doc["mqtt"] = {"port": port, "backoff_min_s": 0.05, "backoff_max_s": 0.5, "status_interval_s": 1}
    return KioskService(
        KioskConfig.model_validate(doc),
        source=GeneratedSource(shown_in_turn(payloads), fps=30),
        pin_factory=MockFactory(pin_class=MockPWMPin),
        on_decision=decisions.append,
        **kw,
    )


def publish_as_hub(broker: MosquittoBroker, topic: str, payload: bytes) -> None:
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    hub.connect(broker.host, broker.port)
    hub.loop_start()
    hub.publish(topic, payload, qos=1).wait_for_publish(5)
    hub.loop_stop()


def running(service: KioskService) -> threading.Thread:
    thread = threading.Thread(target=service.run)
    thread.start()
    return thread


def test_rebooted_into_the_past_the_kiosk_still_stops_what_the_floor_proves(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    issuer = create_issuer_key("VN-HN")
    save_issuer_key(issuer, tmp_path / "issuers")
    now = datetime.now(UTC)
    expired = mint_pass(
        issuer, id_number="001099012346", name="Trần Thị Bình", dob="1999-02-02",
        valid_from=now - timedelta(days=10), valid_until=now - timedelta(days=1),
    )  # fmt: skip
    valid = mint_pass(
        issuer, id_number="001099012347", name="Lê Văn Cường", dob="1990-03-03",
        valid_from=now - timedelta(days=5), valid_until=now + timedelta(days=1),
    )  # fmt: skip

    first: list[Decision] = []
    service = make_service(tmp_path, broker.port, [valid], first)
    thread = running(service)
    try:
        # Subscribed, not just connected: a delta is not retained, so one published before the broker
        # acknowledged the kiosk's SUBSCRIBE would be lost (the real hub re-sends through its retained head).
        wait_for(lambda: service.link is not None and service.link.mqtt.subscribed.is_set(), 20, "the link")
        flagged_since = int((now - timedelta(hours=1)).timestamp())
        entry = flagsync.FlagEntry(id_hash(DEFAULT_KEY, F0_PERSON), "F0", flagged_since)
        delta = seal(HUB, "flags.delta", 1, flagsync.delta_payload(0, [entry]), datetime.now(UTC))
        publish_as_hub(broker, topics.FLAGS_UPDATES, delta)
        wait_for(lambda: service.flags.version == 1, 10, "the hub's flag")
        hub_now = service.time_floor.hub_now()
        assert hub_now is not None and hub_now >= now  # the hub's signed time reached the floor
        wait_for(lambda: bool(first), 30, "a scan on the first boot")
        assert first[0].verdict.outcome.value == "PASS" and first[0].clock.reason == "assumed"
    finally:
        service.stop_event.set()
        thread.join(30)
    assert (tmp_path / "state" / TIME_FLOOR_FILE).exists()

    second: list[Decision] = []
    behind = make_service(
        tmp_path, None, [CCCD, expired, valid], second,
        time_source=lambda: time.time() - DAYS_BEHIND * 86400,
    )  # fmt: skip
    thread = running(behind)
    try:
        wait_for(lambda: len({d.code.raw for d in second}) == 3, 60, "each code scanned after the reboot")
    finally:
        behind.stop_event.set()
        thread.join(30)
    by_code = {d.code.raw.decode(): d for d in second}
    for d in second:
        assert (d.clock.trusted, d.clock.reason) == (False, "behind_floor")
        assert d.clock.now >= now  # the floor, not the clock three days back, is the passage's time
    f0 = by_code[CCCD].verdict
    assert f0.outcome.value == "DENY" and "flag_f0" in f0.reasons, f0
    gone = by_code[expired].verdict
    assert (gone.outcome.value, gone.reasons) == ("DENY", ("expired",)), gone
    ok = by_code[valid].verdict
    assert ok.outcome.value == "REVIEW" and "clock_untrusted" in ok.reasons, ok
