"""Trust lists as people have them: a national JSON DSC list and a directory of files, with odd, unusable
and garbage entries among good ones. Everything usable loads, each skipped entry is named with its reason
and counted, an HC1 signed by a tolerantly read certificate verifies, and what a certificate may sign is
never widened (an EKU that cannot be read skips the certificate)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from common.certread import read_certificate
from common.trust import TrustStore, key_from_der
from common.trustfiles import TrustLoadError
from kiosk.cli import main
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW, T0, Hc1Spec, build_hc1, make_signer
from tests.support.oddcerts import (
    broken_eku,
    der_certificate,
    dsc_list,
    dsc_list_entry,
    eku,
    explicit_default_ca,
    odd_signer,
    pathlen_without_ca,
)
from wire.cose import ALG_ES256, ALG_PS256

ODD = {
    "explicit_default_ca": {"extensions": [explicit_default_ca()]},
    "pathlen_without_ca": {"extensions": [pathlen_without_ca()]},
    "negative_serial": {"serial": -1234},
    "zero_serial": {"serial": 0},
}


@pytest.fixture(scope="module")
def odd():
    return {name: odd_signer(ALG_ES256, cn=name, **kw) for name, kw in ODD.items()}


@pytest.fixture(scope="module")
def material(odd):
    """A JSON DSC list: 50 good (48 ES256 from several countries, 2 PS256), the odd, and garbage."""
    good = [make_signer(ALG_ES256) for _ in range(48)] + [make_signer(ALG_PS256) for _ in range(2)]
    entries: list[object] = [
        dsc_list_entry(s.cert.public_bytes(serialization.Encoding.DER), ("DE", "ES", "FI", "PL", "SE")[n % 5])
        for n, s in enumerate(good)
    ]
    entries += [dsc_list_entry(der, "FI") for _, der in odd.values()]
    ed448_der = der_certificate(ed448.Ed448PrivateKey.generate().public_key(), cn="ed448")
    unreadable_eku_der = der_certificate(
        ec.generate_private_key(ec.SECP256R1()).public_key(), extensions=[pathlen_without_ca(), broken_eku()]
    )
    garbage = {
        "bad_base64": {**dsc_list_entry(b"x", "XA"), "rawData": "not base64!!"},
        "not_a_certificate": dsc_list_entry(b"\x30\x03\x02\x01\x01", "XB"),
        "unsupported_key": dsc_list_entry(ed448_der, "XC"),
        "unreadable_eku": dsc_list_entry(unreadable_eku_der, "XD"),
        "csca": {**dsc_list_entry(ed448_der, "XE"), "certificateType": "CSCA"},
        "no_raw_data": {"country": "XF", "kid": "AAAAAAAAAAA="},
    }
    entries += list(garbage.values())
    entries.append("not an object")
    return good, entries, garbage


def test_each_odd_certificate_is_read_tolerantly_and_its_hc1_verifies(odd):
    for name, (signer, der) in odd.items():
        info = read_certificate(der)
        assert info.tolerant and info.country == "FI" and info.subject == f"CN={name},C=FI", (name, info)
        assert (info.not_before, info.not_after) == (T0 - dt.timedelta(days=365), T0 + dt.timedelta(days=730))
        assert info.allowed_types is None  # no EKU at all: every type, as HCERT says
        trust = TrustStore([key_from_der(der, "certificate", name)])
        verdict = Verifier(trust).verify(build_hc1(Hc1Spec(signer=signer)).encode(), NOW)
        assert verdict.outcome is Outcome.PASS, (name, verdict)


def test_a_tolerantly_read_eku_still_restricts():
    signer, der = odd_signer(ALG_ES256, serial=-7, extensions=[explicit_default_ca(), eku("v")])
    key = key_from_der(der, "certificate")
    assert key.tolerant and key.allowed_types == frozenset({"v"})
    verifier = Verifier(TrustStore([key]))
    assert (
        verifier.verify(build_hc1(Hc1Spec(signer=signer, cert_type="v")).encode(), NOW).outcome
        is Outcome.PASS
    )
    test = verifier.verify(build_hc1(Hc1Spec(signer=signer, cert_type="t")).encode(), NOW)
    assert (test.outcome, test.failed_step) == (Outcome.DENY, "key_usage")


def test_an_unreadable_eku_skips_the_certificate_instead_of_widening_it():
    der = der_certificate(ec.generate_private_key(ec.SECP256R1()).public_key(), extensions=[broken_eku()])
    with pytest.raises(TrustLoadError, match="EKU"):
        key_from_der(der, "certificate", "broken")


def test_the_json_dsc_list_loads_every_usable_entry_and_names_the_rest(tmp_path, material, odd, caplog):
    good, entries, garbage = material
    path = tmp_path / "DSC.json"
    path.write_bytes(dsc_list(entries))
    store = TrustStore()
    assert store.load_path(path) == 50 + len(odd)
    assert store.counts() == {"dcc": 54, "pass": 0, "skipped": len(garbage) + 1}
    reasons = {s.source.split()[2]: s.reason for s in store.skipped if len(s.source.split()) > 2}
    assert reasons["XA"] == "rawData is not base64"
    assert "not a DER certificate" in reasons["XB"]
    assert "unsupported key type" in reasons["XC"]
    assert "EKU" in reasons["XD"]
    assert "not a DSC" in reasons["XE"]
    assert reasons["XF"] == "no rawData"
    assert any(s.reason == "not an object" for s in store.skipped)
    for item in store.skipped:  # each one named in a warning
        assert any(item.source in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    by_country = {k.country for k in store.all_keys()}
    assert by_country == {"DE", "ES", "FI", "PL", "SE"}
    verifier = Verifier(store)
    for signer in (good[0], good[-1], *(s for s, _ in odd.values())):
        assert verifier.verify(build_hc1(Hc1Spec(signer=signer)).encode(), NOW).outcome is Outcome.PASS


def test_dsc_list_variants_signature_line_and_bare_array(tmp_path, material):
    _, entries, garbage = material
    signed = tmp_path / "signed.json"
    signed.write_bytes(base64.b64encode(b"detached signature") + b"\n" + dsc_list(entries))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(entries))
    for path in (signed, bare):
        store = TrustStore.from_paths([path])
        assert store.counts() == {"dcc": 54, "pass": 0, "skipped": len(garbage) + 1}
    with pytest.raises(TrustLoadError, match="not a DSC list"):
        (tmp_path / "other.json").write_text('{"hello": 1}')
        TrustStore.from_paths([tmp_path / "other.json"])


def test_a_directory_with_an_unparseable_file_loads_the_others(tmp_path, odd):
    signer = make_signer(ALG_ES256)
    odd_signer_, odd_der = odd["explicit_default_ca"]
    (tmp_path / "a.pem").write_bytes(signer.pem())
    (tmp_path / "b.der").write_bytes(odd_der)  # cryptography refuses its extensions: read tolerantly
    (tmp_path / "c.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nnot base64 !\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "d.bin").write_bytes(b"\x00garbage\xff" * 10)
    (tmp_path / "e.pem").write_bytes(
        x509.load_der_x509_certificate(odd_der).public_bytes(serialization.Encoding.PEM) + signer.pem()
    )
    store = TrustStore.from_paths([tmp_path])
    assert len(store) == 2 and store.counts()["skipped"] == 2
    assert {s.source.rsplit("/", 1)[-1] for s in store.skipped} == {"c.pem block 1", "d.bin"}
    for s in (signer, odd_signer_):
        assert Verifier(store).verify(build_hc1(Hc1Spec(signer=s)).encode(), NOW).outcome is Outcome.PASS
    out = CliRunner().invoke(main, ["trust", "--trust", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    listing = json.loads(out.output)
    assert (listing["counts"]["dcc"], listing["counts"]["skipped"], len(listing["skipped"])) == (2, 2, 2)
    assert {r["reason"] for r in listing["skipped"]} == {
        "bad PEM block CERTIFICATE",
        "neither PEM, DER nor a JSON DSC list",
    }
    assert any("(read tolerantly)" in k["source"] and k["country"] == "FI" for k in listing["keys"])


def test_kiosk_trust_lists_the_json_list(tmp_path, material):
    _, entries, garbage = material
    (tmp_path / "DSC.json").write_bytes(dsc_list(entries))
    result = CliRunner().invoke(main, ["trust", "--trust", f"dcc:{tmp_path / 'DSC.json'}"])
    assert result.exit_code == 0, result.output
    assert f"54 keys (dcc 54, pass 0), {len(garbage) + 1} skipped" in result.output
    assert (
        "skipped " in result.output and "kid=" in result.output and "rawData is not base64" in result.output
    )


def test_certificates_cryptography_reads_take_the_strict_path():
    """cryptography-built certificates go the fast strict path and are not marked tolerant."""
    signer = make_signer(ALG_ES256, types="v")
    key = key_from_der(signer.cert.public_bytes(serialization.Encoding.DER), "certificate")
    assert not key.tolerant and key.allowed_types == frozenset({"v"})


def test_duplicate_extensions_neither_crash_nor_widen():
    """cryptography raises DuplicateExtension (no ValueError) for these: a doubled BasicConstraints is read
    tolerantly; two EKUs, which could say different things, skip the certificate."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    doubled = der_certificate(key, extensions=[explicit_default_ca(), explicit_default_ca(), eku("v")])
    loaded = key_from_der(doubled, "certificate")
    assert loaded.tolerant and loaded.allowed_types == frozenset({"v"})
    two_ekus = der_certificate(key, extensions=[eku("v"), eku("t")])
    with pytest.raises(TrustLoadError, match="more than one EKU"):
        key_from_der(two_ekus, "certificate")
