"""Trust store (kid collisions, EKU) and the flag JSON file format."""

from __future__ import annotations

import dataclasses
import json

import pytest

from common.trust import TrustStore, key_from_certificate
from kiosk.verify.flags import FlagFileError, FlagStatus, id_hash, load_flag_file
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW, Hc1Spec, build_hc1


def test_every_key_with_the_kid_is_tried(signers):
    real = signers["ES256"]["any"]
    decoy = dataclasses.replace(key_from_certificate(signers["ES256"]["untrusted"].cert), kid=real_kid(real))
    trust = TrustStore([decoy, key_from_certificate(real.cert)])
    assert len(trust.keys_for(real_kid(real), "dcc")) == 2
    assert Verifier(trust).verify(build_hc1(Hc1Spec(signer=real)).encode(), NOW).outcome is Outcome.PASS


def real_kid(signer):
    return signer.kid


def test_eku_restrictions_are_read(signers):
    assert key_from_certificate(signers["PS256"]["v_only"].cert).allowed_types == frozenset({"v"})
    assert key_from_certificate(signers["PS256"]["any"].cert).allowed_types is None
    from testkit.dcc import make_signer
    from wire.cose import ALG_ES256

    alt = make_signer(ALG_ES256, types="tr", alt_arc=True)
    assert key_from_certificate(alt.cert).allowed_types == frozenset({"t", "r"})
    verifier = Verifier(TrustStore([key_from_certificate(alt.cert)]))
    for cert_type, expected in (("t", Outcome.PASS), ("r", Outcome.PASS), ("v", Outcome.DENY)):
        verdict = verifier.verify(build_hc1(Hc1Spec(signer=alt, cert_type=cert_type)).encode(), NOW)
        assert verdict.outcome is expected, (cert_type, verdict)


def test_flag_file_clear_ids_and_hashes(tmp_path):
    key = bytes(range(16))
    doc = {
        "version": 4,
        "key": key.hex(),
        "persons": [
            {"id": "001099012345", "status": "F0", "start": "2026-11-01T00:00:00+07:00", "end": None},
            {
                "id_hash": f"{id_hash(key, '079084012345'):016x}",
                "status": "F2",
                "start": "2026-11-01T00:00:00Z",
                "end": "2026-11-30T00:00:00Z",
            },
        ],
        "pass_revocations": {"pass_id": ["0101010101010101"]},
    }
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(doc))
    store = load_flag_file(path)
    assert store.version == 4 and len(store) == 2
    assert store.person("001099012345", NOW).status is FlagStatus.F0
    assert store.person("079084012345", NOW).status is FlagStatus.F2
    assert store.person("001199012345", NOW) is None
    assert b"\x01" * 8 in store.pass_ids


@pytest.mark.parametrize(
    "doc",
    [
        {"persons": [{"id": "123", "status": "F0", "start": "2026-11-01T00:00:00Z"}]},
        {"persons": [{"id": "001099012345", "status": "F9", "start": "2026-11-01T00:00:00Z"}]},
        {"persons": [{"id": "001099012345", "status": "F0", "start": "2026-11-01T00:00:00"}]},
        {"surprise": 1},
    ],
)
def test_flag_file_errors_name_the_problem(tmp_path, doc):
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FlagFileError):
        load_flag_file(path)


def test_trust_list_der_is_parsed_once_and_replace_drops_old_keys(signers):
    from cryptography.hazmat.primitives import serialization

    der = signers["ES256"]["any"].cert.public_bytes(serialization.Encoding.DER)
    store = TrustStore()
    first = store.add_der(der)
    assert store.add_der(der) is first and len(store) == 1
    store.replace_all([key_from_certificate(signers["PS256"]["any"].cert)], version=2)
    assert store.keys_for(first.kid, "dcc") == () and store.version == 2
    with pytest.raises(ValueError):
        store.replace_all([], version=2)


def test_revocation_deltas(signers):
    from kiosk.verify.flags import FlagStore

    store = FlagStore(version=1)
    store.apply_delta([], [], 2, revoked=[("pass_id", b"\x02" * 8), ("uci", b"\x03" * 16)])
    assert store.pass_revoked(b"\x02" * 8, b"") == "revoked_pass_id"
    store.apply_delta([], [], 3, unrevoked=[("pass_id", b"\x02" * 8)])
    assert store.pass_revoked(b"\x02" * 8, b"") is None and b"\x03" * 16 in store.hc1_uci
    with pytest.raises(ValueError):
        store.apply_delta([], [], 4, revoked=[("nonsense", b"")])
    assert store.version == 3
