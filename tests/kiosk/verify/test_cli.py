"""`kiosk verify` CLI contract: one JSON object, exit 0 for any verdict, 2 on usage errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from kiosk.cli import main
from testkit.dcc import NOW, Hc1Spec, build_hc1

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"


def _run(args, stdin=None):
    result = CliRunner().invoke(main, ["verify", *args], input=stdin)
    return result.exit_code, (json.loads(result.output) if result.exit_code == 0 else result.output)


def test_hc1_with_pem_and_der_trust(tmp_path, signers):
    signer = signers["ES256"]["any"]
    (tmp_path / "dsc.pem").write_bytes(signer.pem())
    (tmp_path / "dsc.der").write_bytes(signer.cert.public_bytes(serialization.Encoding.DER))
    text = build_hc1(Hc1Spec(signer=signer))
    at = NOW.isoformat()
    for trust in (tmp_path / "dsc.pem", tmp_path / "dsc.der", tmp_path):
        code, out = _run(["--trust", str(trust), "--at", at, text])
        assert code == 0 and out["verdict"] == "PASS" and out["kind"] == "hc1", out
    code, out = _run(["--at", at, text])  # no trust: DENY, still exit 0
    assert (code, out["verdict"], out["failed_step"], out["reasons"]) == (
        0,
        "DENY",
        "signature",
        ["kid_unknown"],
    )


def test_pass_via_stdin_with_public_key_trust_flags_and_policy(tmp_path, issuers):
    from provisioning.issuer import mint_pass, save_issuer_key

    key = issuers["Ed25519"]
    _, pub = save_issuer_key(key, tmp_path / "keys")
    text = mint_pass(
        key,
        id_number="001099012345",
        name="An",
        dob="1999-01-01",
        valid_from=NOW,
        valid_until=NOW.replace(year=2027),
    )
    code, out = _run(["--trust", str(pub), "--at", "2026-11-23T00:00:00Z", "-"], stdin=text + "\n")
    assert (code, out["verdict"], out["subject"]["id_number"]) == (0, "PASS", "001099012345")
    flags = tmp_path / "flags.json"
    flags.write_text(
        json.dumps(
            {
                "version": 7,
                "persons": [
                    {"id": "001099012345", "status": "F0", "start": "2026-11-01T00:00:00Z", "end": None}
                ],
            }
        )
    )
    code, out = _run(["--trust", str(pub), "--flags", str(flags), "--at", "2026-11-23T00:00:00Z", text])
    assert (out["verdict"], out["reasons"][0], out["flags_version"]) == ("DENY", "flag_f0", 7)
    policy = tmp_path / "policy.toml"
    policy.write_text('[policy]\nidentity_only = "PASS"\n')
    code, out = _run(["--policy", str(policy), CCCD])
    assert (code, out["kind"], out["verdict"]) == (0, "cccd", "PASS")
    assert out["subject"] == {"id_number": "001099012345", "name": "Nguyễn Văn An", "dob": "1999-01-01"}


def test_usage_errors_exit_2(tmp_path):
    assert _run([])[0] == 2
    assert _run(["--at", "yesterday", CCCD])[0] == 2
    bad_policy = tmp_path / "p.toml"
    bad_policy.write_text("no_such_key = 1\n")
    assert _run(["--policy", str(bad_policy), CCCD])[0] == 2
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert _run(["--trust", str(junk), CCCD])[0] == 2


def test_image_unreadable_and_readable(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((100, 100), 255, dtype=np.uint8))
    code, out = _run(["--image", str(blank)])
    assert (code, out["verdict"], out["failed_step"]) == (0, "DENY", "decode_image")
    import zxingcpp

    qr = zxingcpp.create_barcode(CCCD, zxingcpp.BarcodeFormat.QRCode)
    img = (
        np.asarray(zxingcpp.write_barcode_to_image(qr, scale=4, add_quiet_zones=True))
        if hasattr(zxingcpp, "write_barcode_to_image")
        else np.asarray(qr.to_image(scale=4))
    )
    path = tmp_path / "cccd.png"
    cv2.imwrite(str(path), img)
    code, out = _run(["--image", str(path)])
    assert (code, out["kind"], out["subject"]["name"]) == (0, "cccd", "Nguyễn Văn An")


def test_rules_apply_only_when_given_and_at_the_validation_clock(tmp_path, signers):
    from pathlib import Path

    from testkit.dcc import dcc_payload

    rules = Path(__file__).resolve().parents[3] / "examples" / "rules" / "vietnam-2021.json"
    signer = signers["PS256"]["any"]
    (tmp_path / "dsc.pem").write_bytes(signer.pem())
    dcc = dcc_payload("t")
    dcc["t"][0].update({"sc": "2026-11-21T20:00:00Z", "tt": "LP217198-3"})  # rapid antigen test
    text = build_hc1(Hc1Spec(signer=signer, cert_type="t", dcc=dcc))
    base = ["--trust", str(tmp_path / "dsc.pem"), "--at", "2026-11-22T10:00:00Z"]
    assert _run([*base, text])[1]["verdict"] == "PASS"
    code, out = _run([*base, "--rules", str(rules), text])
    assert (code, out["verdict"], out["reasons"]) == (0, "PASS", ["valid_hc1"])
    later = ["--trust", str(tmp_path / "dsc.pem"), "--at", "2026-11-23T10:00:00Z", "--rules", str(rules)]
    code, out = _run([*later, text])  # 38 h after sampling: a rapid test is good for 24 h
    assert (code, out["verdict"], out["reasons"][0]) == (0, "DENY", "rule_failed")
    assert out["extra"]["rules_failed"] == ["TR-VN-0004"] and "24 giờ" in out["message"]["vi"]

    naat_only = tmp_path / "test-type.json"
    naat_only.write_text(
        json.dumps({"valueSetId": "covid-19-lab-test-type", "valueSetValues": {"LP6464-4": {}}})
    )
    code, out = _run([*base, "--rules", str(rules), "--value-sets", str(naat_only), text])
    assert out["extra"]["rules_failed"] == ["TR-VN-0002"]  # the rapid test is no longer in the value set

    broken = tmp_path / "broken.json"
    broken.write_text('{"rules": [{"Identifier": "TR-VN-0001"}]}')
    code, out = _run([*base, "--rules", str(broken), text])
    assert code == 2 and "--rules" in out and "broken.json" in out
