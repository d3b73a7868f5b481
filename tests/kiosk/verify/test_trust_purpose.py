"""Purpose-bound trust: a DSC (dcc) cannot sign a VNP1 pass, a pass issuer's key (pass) cannot sign an HC1,
for both DSC algorithms and both pass algorithms; the same key trusted for the right purpose passes, so
the DENY comes from the purpose and nothing else. `kiosk verify --trust` says the purpose by kind or by
a dcc:/pass: prefix, and a directory by its dcc/ and pass/ subdirectories."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from common.trust import TrustLoadError, TrustStore, key_from_certificate, key_from_public_key
from kiosk.cli import main
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from provisioning.issuer import IssuerKey, mint_pass, save_issuer_key
from testkit.dcc import NOW, Hc1Spec, build_hc1

DAY = dt.timedelta(days=1)


def _pass(key: IssuerKey) -> bytes:
    return mint_pass(
        key, id_number="001099012345", name="Nguyễn Văn An", dob="1999-01-01",
        valid_from=NOW - DAY, valid_until=NOW + 7 * DAY,
    ).encode()  # fmt: skip


class _DscAsPassIssuer(IssuerKey):
    """A DSC's private key minting a pass under the DSC's own kid (as a leaked or foreign DSC would)."""

    def __init__(self, signer) -> None:
        super().__init__("VN-FAKE", signer.key, signer.alg)
        object.__setattr__(self, "_kid", signer.kid)

    @property
    def kid(self) -> bytes:
        return self._kid


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_a_dsc_cannot_sign_a_checkpoint_pass(signers, trust, alg):
    signer = signers[alg]["any"]
    forged = _pass(_DscAsPassIssuer(signer))
    verdict = Verifier(trust).verify(forged, NOW)
    assert (verdict.outcome, verdict.failed_step) == (Outcome.DENY, "signature"), verdict
    # ES256 is a pass algorithm: only the purpose stops it. PS256 is not one, so the alg check does first.
    assert verdict.reasons == (("kid_unknown",) if alg == "ES256" else ("alg_unsupported",))
    assert Verifier(trust).verify(build_hc1(Hc1Spec(signer=signer)).encode(), NOW).outcome is Outcome.PASS
    if alg == "ES256":  # control: the same key trusted as a pass issuer would pass
        as_pass = TrustStore([key_from_certificate(signer.cert, purpose="pass")])
        assert Verifier(as_pass).verify(forged, NOW).outcome is Outcome.PASS


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_a_pass_issuer_cannot_sign_an_hc1(signers, issuers, trust, alg):
    from testkit.dcc import Signer

    issuer = issuers[alg]
    # An HC1 signed by the issuer's key under the issuer's kid (the certificate is unused: kid given).
    spec = Hc1Spec(
        signer=Signer(issuer.alg, issuer.private_key, signers["ES256"]["untrusted"].cert), kid=issuer.kid
    )
    forged = build_hc1(spec).encode()
    verdict = Verifier(trust).verify(forged, NOW)
    assert (verdict.outcome, verdict.failed_step) == (Outcome.DENY, "signature"), verdict
    # EdDSA is no HC1 algorithm; ES256 is, so for it only the purpose refuses the key.
    assert verdict.reasons == (("kid_unknown",) if alg == "ES256" else ("alg_unsupported",))
    assert Verifier(trust).verify(_pass(issuer), NOW).outcome is Outcome.PASS
    if alg == "ES256":  # control: trusted as a DSC, the same signature verifies
        as_dcc = TrustStore([key_from_public_key(issuer.public_key, purpose="dcc")])
        assert Verifier(as_dcc).verify(forged, NOW).outcome is Outcome.PASS


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(main, ["verify", "--at", NOW.isoformat(), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cli_trust_purpose_by_kind_prefix_and_directory_layout(tmp_path, signers, issuers):
    signer, issuer = signers["ES256"]["any"], issuers["ES256"]
    hc1 = build_hc1(Hc1Spec(signer=signer))
    a_pass = _pass(issuer).decode()
    cert, pub = tmp_path / "dsc.pem", tmp_path / "issuer.pem"
    cert.write_bytes(signer.pem())
    pub.write_bytes(issuer.public_pem())
    # By kind: a certificate is dcc, a bare public key pass.
    assert _cli("--trust", str(cert), hc1)["verdict"] == "PASS"
    assert _cli("--trust", str(pub), a_pass)["verdict"] == "PASS"
    assert _cli("--trust", str(cert), "--trust", str(pub), hc1)["verdict"] == "PASS"
    # A prefix overrides the kind: the DSC as a pass issuer no longer verifies HC1.
    out = _cli("--trust", f"pass:{cert}", hc1)
    assert (out["verdict"], out["failed_step"], out["reasons"]) == ("DENY", "signature", ["kid_unknown"])
    out = _cli("--trust", f"dcc:{pub}", a_pass)
    assert (out["verdict"], out["reasons"]) == ("DENY", ["kid_unknown"])
    # A directory: files by kind, dcc/ and pass/ subdirectories by their name.
    layout = tmp_path / "trust"
    (layout / "dcc").mkdir(parents=True)
    (layout / "pass").mkdir()
    (layout / "dcc" / "issuer-as-dsc.pem").write_bytes(issuer.public_pem())
    (layout / "pass" / "dsc-as-issuer.pem").write_bytes(signer.pem())
    assert _cli("--trust", str(layout), hc1)["reasons"] == ["kid_unknown"]
    assert _cli("--trust", str(layout), a_pass)["reasons"] == ["kid_unknown"]
    save_issuer_key(issuer, layout / "pass")  # its private key beside it is ignored
    (layout / "dcc" / "dsc.der").write_bytes(signer.cert.public_bytes(serialization.Encoding.DER))
    assert _cli("--trust", str(layout), hc1)["verdict"] == "PASS"
    assert _cli("--trust", str(layout), a_pass)["verdict"] == "PASS"
    missing = CliRunner().invoke(main, ["verify", "--trust", f"dcc:{tmp_path / 'nope'}", hc1])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_kiosk_trust_with_a_config_lists_provisioned_sources_and_the_saved_hub_list(
    tmp_path, signers, issuers
):
    """`kiosk trust --config` shows what the service verifies with: its sources plus the hub's saved list."""
    from kiosk.store import KioskStore
    from wire.trustlist import Skipped, TrustEntry, trust_payload

    signer, issuer = signers["PS256"]["v_only"], issuers["Ed25519"]
    (tmp_path / "dsc.pem").write_bytes(signer.pem())
    state = tmp_path / "state"
    state.mkdir()
    spki = issuer.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = trust_payload(
        [TrustEntry("public_key", spki, "pass")], [Skipped("DSC.json #3 SE", "no rawData")]
    )
    store = KioskStore(state / "kiosk.db")
    store.save_document("trust-list", 5, json.dumps(payload))
    store.close()
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[kiosk]\nkiosk_id = "k-1"\ncheckpoint_id = "cp-1"\nstate_dir = "{state}"\n'
        f'[verify]\ntrust = ["dcc:{tmp_path / "dsc.pem"}"]\n'
    )
    result = CliRunner().invoke(main, ["trust", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert listing["hub_list_version"] == 5
    assert listing["counts"] == {"dcc": 1, "pass": 1, "skipped": 1}
    rows = {row["purpose"]: row for row in listing["keys"]}
    assert rows["dcc"]["types"] == "v" and rows["dcc"]["subject"].startswith("CN=DSC")
    assert rows["pass"]["kid"] == base64.b64encode(issuer.kid).decode()
    assert listing["skipped"] == [{"source": "hub: DSC.json #3 SE", "reason": "no rawData"}]
    text = CliRunner().invoke(main, ["trust", "--config", str(config)])
    assert "2 keys (dcc 1, pass 1), 1 skipped; hub list version 5" in text.output
    assert CliRunner().invoke(main, ["trust"]).exit_code == 2


def test_a_source_with_only_a_private_key_is_an_error(tmp_path, issuers):
    private, _ = save_issuer_key(issuers["Ed25519"], tmp_path)
    with pytest.raises(TrustLoadError, match="no usable"):
        TrustStore.from_paths([private])
