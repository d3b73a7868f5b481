"""The issuers' trust list pushed by the hub: an operator sets it from key files, the running hub publishes
it signed and retained, a kiosk's verifier then accepts the new issuer's passes, and a kiosk that connects
later gets it too; private keys are refused."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.cli import main as hub_cli
from hub.config import load_hub_config
from hub.service import HubService
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.trust import TrustStore
from kiosk.verify.verifier import Verifier
from provisioning.issuer import create_issuer_key, mint_pass, save_issuer_key
from provisioning.keyfiles import write_private_key
from tests.support.linkrig import fast_link_config, wait_for
from tests.support.services import MosquittoBroker
from wire.envelope import Signed
from wire.trustlist import decode_trust


def test_trust_list_from_the_hub_makes_a_new_issuers_passes_valid(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    signing = Ed25519PrivateKey.generate()
    write_private_key(tmp_path / "hub-signing.pem", signing)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "hub.db"}"\nsigning_key = "{tmp_path / "hub-signing.pem"}"\n'
        f"[mqtt]\nport = {broker.port}\n[http]\nenabled = false\n"
    )
    service = HubService(load_hub_config(config))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(20)

    now = dt.datetime.now(dt.UTC)
    issuer = create_issuer_key("VN-HCM-NEW")
    private, public = save_issuer_key(issuer, tmp_path / "issuer")
    valid = {"valid_from": now - dt.timedelta(days=1), "valid_until": now + dt.timedelta(days=30)}
    qr = mint_pass(issuer, id_number="001099012346", name="Phạm Văn Dũng", dob="1990-05-05", **valid)
    trust = TrustStore()
    verifier = Verifier(trust, FlagStore(), PolicyConfig())
    assert "kid_unknown" in verifier.verify(qr.encode(), now).reasons

    updates: list[Signed] = []
    link = KioskLink(fast_link_config(broker.port), "kiosk-1", KioskStore(tmp_path / "k1.db"),
                     hub_keys=[signing.public_key()], on_update=updates.append).start()  # fmt: skip
    late: KioskLink | None = None
    try:
        wait_for(lambda: link.connected, 10, "the kiosk to connect")
        runner = CliRunner()
        refused = runner.invoke(hub_cli, ["--config", str(config), "trust", "set", str(private)])
        assert refused.exit_code == 1 and "private key" in refused.output
        done = runner.invoke(hub_cli, ["--config", str(config), "trust", "set", str(public)])
        assert done.exit_code == 0, done.output

        wait_for(lambda: any(u.type == "trust" for u in updates), 15, "the trust list at the kiosk")
        update = next(u for u in updates if u.type == "trust")
        entries, skipped = decode_trust(update)
        assert skipped == [] and [e.purpose for e in entries] == ["pass"]
        keys, _ = trust.load_entries(entries)  # as the kiosk service applies it
        trust.replace_all(keys, update.version)
        assert verifier.verify(qr.encode(), now).outcome.value == "PASS"

        late_updates: list[Signed] = []
        late = KioskLink(fast_link_config(broker.port), "kiosk-2", KioskStore(tmp_path / "k2.db"),
                         hub_keys=[signing.public_key()], on_update=late_updates.append).start()  # fmt: skip
        wait_for(
            lambda: any(u.type == "trust" for u in late_updates), 15, "the retained list at a late kiosk"
        )
        shown = runner.invoke(hub_cli, ["--config", str(config), "trust", "show", "--json"])
        assert '"kind": "public_key"' in shown.output and '"purpose": "pass"' in shown.output
    finally:
        link.stop()
        if late is not None:
            late.stop()
        service.stop_event.set()
        thread.join(20)
