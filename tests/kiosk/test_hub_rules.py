"""Health rules pushed by the hub: a kiosk applies a new signed rule set to the next scan, keeps it across
a restart, and refuses forged, older and unsigned rule documents (a broker cannot relax the rules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.camera.replay import GeneratedSource
from kiosk.config import KioskConfig
from kiosk.pipeline import Decision
from kiosk.service import KioskService
from testkit.dcc import Hc1Spec, build_hc1, dcc_payload, make_signer
from testkit.linkrig import wait_for
from testkit.services import MosquittoBroker
from tests.kiosk.test_hub_updates import comes_and_goes, publish_as_hub, run_in_thread
from wire import topics
from wire.cose import ALG_ES256
from wire.envelope import seal

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = json.loads((ROOT / "examples" / "rules" / "vietnam-2021.json").read_text("utf-8"))
HUB = Ed25519PrivateKey.generate()
SIGNER = make_signer(ALG_ES256)


def positive_test_certificate() -> str:
    dcc = dcc_payload("t")
    sampled = datetime.now(UTC) - timedelta(hours=20)
    dcc["t"][0].update({"tr": "260373001", "sc": sampled.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return build_hc1(Hc1Spec(SIGNER, cert_type="t", dcc=dcc))


def make_service(tmp_path: Path, port: int, decisions: list[Decision], payload: str) -> KioskService:
    (tmp_path / "hub.pub").write_bytes(
        HUB.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "dsc.pem").write_bytes(SIGNER.pem())
    config = KioskConfig.model_validate(
        {
            "kiosk": {"kiosk_id": "kiosk-1", "checkpoint_id": "st-1", "state_dir": str(tmp_path / "state"),
                      "assume_clock_trusted": True},
            "decode": {"dedupe_window_s": 0.2},
            "verify": {"hub_public_key": str(tmp_path / "hub.pub"), "trust": [str(tmp_path / "dsc.pem")]},
            "mqtt": {"port": port, "backoff_min_s": 0.05, "backoff_max_s": 0.5, "status_interval_s": 1},
            "screen": {"port": 0},
        }
    )  # fmt: skip
    return KioskService(
        config,
        source=GeneratedSource(comes_and_goes(payload), fps=30),
        pin_factory=MockFactory(pin_class=MockPWMPin),
        on_decision=decisions.append,
    )


def _outcomes_after(decisions: list[Decision], start: int) -> set[str]:
    return {d.verdict.outcome.value for d in decisions[start + 1 :]}  # the first may predate the update


def test_rules_from_the_hub_apply_to_the_next_scan_and_survive_restart(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    payload = positive_test_certificate()
    decisions: list[Decision] = []
    service = make_service(tmp_path, broker.port, decisions, payload)
    thread = run_in_thread(service)
    try:
        wait_for(lambda: bool(decisions), 30, "a first scan")
        assert decisions[0].verdict.outcome.value == "PASS"  # signature-level: no rules yet
        wait_for(lambda: service.link is not None and service.link.connected, 10, "the link")
        now = datetime.now(UTC)
        publish_as_hub(broker, topics.RULES, seal(HUB, "rules", 2, SHIPPED, now))
        wait_for(lambda: service.verifier.verifier.rules.version == 2, 10, "the rules to be applied")
        applied_at = len(decisions)
        wait_for(lambda: len(decisions) >= applied_at + 3, 30, "more scans")
        later = decisions[applied_at + 1 :]
        assert all(d.verdict.outcome.value == "DENY" and "rule_failed" in d.verdict.reasons for d in later)
        assert "TR-VN-0001" in later[0].verdict.extra["rules_failed"]

        assert service.link is not None
        rejected = service.link.stats.updates_rejected
        relaxed = {"rules": []}
        forged = seal(Ed25519PrivateKey.generate(), "rules", 3, relaxed, now)
        older = seal(HUB, "rules", 1, relaxed, now)
        unsigned = json.dumps({"type": "rules", "version": 4, "payload": relaxed}).encode()
        for bad in (forged, older, unsigned):
            publish_as_hub(broker, topics.RULES, bad)
        wait_for(lambda: service.link.stats.updates_rejected >= rejected + 3, 10, "three refusals")
        assert service.verifier.verifier.rules.version == 2 and len(service.verifier.verifier.rules) == 12
        assert service.status_fields()["rules_version"] == 2
    finally:
        service.stop_event.set()
        thread.join(30)

    again = make_service(tmp_path, broker.port, [], payload)
    assert again.verifier.verifier.rules.version == 2  # the saved set is back before the first scan
    assert again.verifier.verify(payload.encode(), datetime.now(UTC)).outcome.value == "DENY"
    again.shutdown()
