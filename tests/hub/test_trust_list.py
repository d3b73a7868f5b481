"""The issuers' trust list pushed by the hub: an operator sets it from key files, the running hub publishes
it signed and retained, a kiosk's verifier then accepts the new issuer's passes, and a kiosk that connects
later gets it too; private keys are refused."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import trust as trust_module
from common.keyfiles import write_private_key
from common.trust import TrustStore
from hub.cli import main as hub_cli
from hub.config import load_hub_config
from hub.service import HubService
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from kiosk.verify.kiosk_trust import KioskTrust
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verifier import Verifier
from provisioning.issuer import create_issuer_key, mint_pass, save_issuer_key
from testkit.dcc import NOW, Hc1Spec, build_hc1, make_signer
from testkit.linkrig import fast_link_config, wait_for
from testkit.services import MosquittoBroker
from tests.support.oddcerts import bulk_dsc_entries, dsc_list, dsc_list_entry, explicit_default_ca, odd_signer
from wire.cose import ALG_ES256
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


def _start_hub(
    broker: MosquittoBroker, tmp_path: Path
) -> tuple[HubService, threading.Thread, Path, Ed25519PrivateKey]:
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
    return service, thread, config, signing


def test_a_4_mb_national_list_reaches_a_kiosk_parsed_once_and_is_not_reapplied(
    broker: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hub trust set` of a 4 MB JSON DSC list (with entries the hub skips) goes through the hub's publisher,
    the broker and a kiosk's link; the kiosk parses each certificate once, counts the skipped ones in its
    status, verifies an HC1 signed by one of them; the list re-sent on a reconnect is not applied again,
    and a next version with one more certificate parses only that one."""
    entries, bulk_signer = bulk_dsc_entries(3600)
    odd, odd_der = odd_signer(serial=0, extensions=[explicit_default_ca()])
    entries += [
        dsc_list_entry(odd_der, "FI"),
        {"country": "XX", "rawData": "??"},
        dsc_list_entry(b"\x05\x00"),
    ]
    national = tmp_path / "DSC.json"
    national.write_bytes(dsc_list(entries))
    assert national.stat().st_size > 4_000_000

    parses = []
    real_parse = trust_module.key_from_der

    def counting_parse(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():  # the kiosk's link, not the hub CLI
            parses.append(1)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(trust_module, "key_from_der", counting_parse)
    kiosk_trust = KioskTrust([])
    applied: list[int] = []

    def on_update(update: Signed) -> None:
        if update.type == "trust":
            kiosk_trust.apply(update)
            applied.append(update.version)

    service, thread, config, signing = _start_hub(broker, tmp_path)
    store = KioskStore(tmp_path / "k.db")
    link = KioskLink(fast_link_config(broker.port), "kiosk-1", store, hub_keys=[signing.public_key()],
                     on_update=on_update, status_extra=lambda: {"trust": kiosk_trust.status()})  # fmt: skip
    link.start()
    again: KioskLink | None = None
    try:
        wait_for(lambda: link.connected, 10, "the kiosk to connect")
        runner = CliRunner()
        done = runner.invoke(hub_cli, ["--config", str(config), "trust", "set", f"dcc:{national}"])
        assert done.exit_code == 0, done.output
        assert (
            "3601 keys (dcc 3601, pass 0), 2 skipped" in done.output
            and "rawData is not base64" in done.output
        )

        wait_for(lambda: applied == [1], 30, "the 4 MB list at the kiosk")
        status = kiosk_trust.status()
        assert status == {"version": 1, "dcc": 3601, "pass": 0, "skipped": 2}
        assert len(parses) == 3601  # the hub dropped the two unusable entries; each certificate parsed once
        assert json.loads(link._status_payload("online"))["trust"]["skipped"] == 2
        verifier = Verifier(kiosk_trust.store)
        for signer in (bulk_signer, odd):
            assert verifier.verify(build_hc1(Hc1Spec(signer=signer)).encode(), NOW).outcome.value == "PASS"

        link.stop()  # a reconnect: the broker re-sends the retained head of the 4 MB list
        again = KioskLink(fast_link_config(broker.port), "kiosk-1", store, hub_keys=[signing.public_key()],
                          on_update=on_update).start()  # fmt: skip
        wait_for(lambda: again.stats.updates_repeated >= 1, 30, "the retained list again")
        assert applied == [1] and again.stats.updates_rejected == 0 and len(parses) == 3601

        extra = tmp_path / "extra.pem"
        extra.write_bytes(make_signer(ALG_ES256).pem())
        done = runner.invoke(
            hub_cli, ["--config", str(config), "trust", "set", f"dcc:{national}", str(extra)]
        )
        assert done.exit_code == 0, done.output
        wait_for(lambda: applied == [1, 2], 30, "version 2 at the kiosk")
        assert len(parses) == 3602 and kiosk_trust.status()["dcc"] == 3602
    finally:
        link.stop()
        if again is not None:
            again.stop()
        service.stop_event.set()
        thread.join(20)


def test_set_refuses_lists_no_kiosk_would_accept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More keys than a kiosk takes, or a list too large for one signed envelope, is refused at `set`
    with the reason, rather than published and rejected by every kiosk."""
    from hub import trust as hub_trust

    entries, _ = bulk_dsc_entries(5)
    national = tmp_path / "DSC.json"
    national.write_bytes(dsc_list(entries))
    assert len(hub_trust.entries_from_paths([national]).entries) == 5
    monkeypatch.setattr(hub_trust, "MAX_KEYS", 4)
    with pytest.raises(hub_trust.TrustListError, match="at most 4"):
        hub_trust.entries_from_paths([national])
    monkeypatch.setattr(hub_trust, "MAX_KEYS", 10_000)
    monkeypatch.setattr(hub_trust, "MAX_ENVELOPE_BYTES", 4096)
    with pytest.raises(hub_trust.TrustListError, match="more than the 4096 a kiosk accepts"):
        hub_trust.entries_from_paths([national])
