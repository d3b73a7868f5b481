"""Health rules set by an operator: checked exactly as a kiosk checks them before anything is stored, audited,
published signed and retained by the running hub (a kiosk that connects later gets them), shown in the API."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.healthrules import RuleSet
from common.keyfiles import load_private_key, write_private_key
from hub.cli import main as hub_cli
from hub.config import load_hub_config
from hub.service import HubService
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import fast_link_config, wait_for
from testkit.services import MosquittoBroker
from wire.envelope import Signed
from wire.rules import decode_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "examples" / "rules" / "vietnam-2021.json"


def _hub_config(tmp_path: Path, port: int) -> Path:
    write_private_key(tmp_path / "hub-signing.pem", Ed25519PrivateKey.generate())
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "hub.db"}"\nsigning_key = "{tmp_path / "hub-signing.pem"}"\n'
        f"[mqtt]\nport = {port}\n[http]\nenabled = false\n"
    )
    return config


def test_an_operator_cannot_store_a_rule_set_a_kiosk_would_refuse(tmp_path: Path) -> None:
    config = _hub_config(tmp_path, 1883)
    runner = CliRunner()
    assert runner.invoke(hub_cli, ["--config", str(config), "init"]).exit_code == 0
    doc = json.loads(SHIPPED.read_text("utf-8"))
    doc["rules"][2]["Logic"] = {"plusTime": [{"var": "payload.v.0.dt"}, 14, "fortnight"]}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    refused = runner.invoke(hub_cli, ["--config", str(config), "rules", "set", str(bad)])
    assert refused.exit_code == 1 and "bad.json[2]" in refused.output and "VR-VN-0002" in refused.output
    shown = runner.invoke(hub_cli, ["--config", str(config), "rules", "show"])
    assert "no health rules yet" in shown.output


def test_rules_set_by_an_operator_reach_kiosks_signed_and_retained(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = _hub_config(tmp_path, broker.port)
    hub_config = load_hub_config(config)
    service = HubService(hub_config)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(20)
    signing_public = load_private_key(hub_config.signing_key).public_key()
    updates: list[Signed] = []
    link = KioskLink(fast_link_config(broker.port), "kiosk-1", KioskStore(tmp_path / "k1.db"),
                     hub_keys=[signing_public], on_update=updates.append).start()  # fmt: skip
    late: KioskLink | None = None
    try:
        wait_for(lambda: link.connected, 10, "the kiosk to connect")
        runner = CliRunner()
        test_type = tmp_path / "test-type.json"
        test_type.write_text(
            json.dumps({"valueSetId": "covid-19-lab-test-type", "valueSetValues": {"LP6464-4": {}}})
        )
        done = runner.invoke(hub_cli, ["--config", str(config), "rules", "set", str(SHIPPED), str(test_type)])
        assert done.exit_code == 0, done.output
        assert "version 1: 12 rules" in done.output

        wait_for(lambda: any(u.type == "rules" for u in updates), 15, "the rules at the kiosk")
        update = next(u for u in updates if u.type == "rules")
        rules = RuleSet.from_document(decode_rules(update), update.version)  # as the kiosk service applies it
        assert len(rules) == 12 and rules.value_sets["covid-19-lab-test-type"] == ["LP6464-4"]

        late_updates: list[Signed] = []
        late = KioskLink(fast_link_config(broker.port), "kiosk-2", KioskStore(tmp_path / "k2.db"),
                         hub_keys=[signing_public], on_update=late_updates.append).start()  # fmt: skip
        wait_for(
            lambda: any(u.type == "rules" for u in late_updates), 15, "the retained rules at a late kiosk"
        )

        shown = json.loads(
            runner.invoke(hub_cli, ["--config", str(config), "rules", "show", "--json"]).output
        )
        assert {r["identifier"] for r in shown} >= {"TR-VN-0001", "VR-VN-0001", "RR-VN-0002"}
        audit = runner.invoke(hub_cli, ["--config", str(config), "audit", "--json"]).output
        assert "rules.set" in audit and "TR-VN-0001@1.0.0" in audit
    finally:
        link.stop()
        if late is not None:
            late.stop()
        service.stop_event.set()
        thread.join(20)
