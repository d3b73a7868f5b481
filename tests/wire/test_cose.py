"""COSE_Sign1 round trips and strict decoding (shared by HC1 and passes)."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from wire.cose import (
    ALG_EDDSA,
    ALG_ES256,
    ALG_PS256,
    CoseFormatError,
    decode_claims,
    decode_sign1,
    encode_sign1,
    verify_signature,
)


@pytest.mark.parametrize(
    ("alg", "make"),
    [
        (ALG_ES256, lambda: ec.generate_private_key(ec.SECP256R1())),
        (ALG_PS256, lambda: rsa.generate_private_key(65537, 2048)),
        (ALG_EDDSA, ed25519.Ed25519PrivateKey.generate),
    ],
)
@pytest.mark.parametrize("cwt_tag", [False, True])
def test_round_trip_and_tamper(alg, make, cwt_tag):
    key = make()
    data = encode_sign1(b"payload", key, alg, b"12345678", cwt_tag=cwt_tag)
    s1 = decode_sign1(data)
    assert s1.kid == b"12345678" and s1.alg == alg and s1.payload == b"payload"
    assert verify_signature(key.public_key(), alg, s1.to_be_signed(), s1.signature)
    assert not verify_signature(key.public_key(), alg, s1.to_be_signed() + b"x", s1.signature)
    assert not verify_signature(key.public_key(), alg, s1.to_be_signed(), s1.signature + b"\x00")
    wrong_alg = ALG_EDDSA if alg != ALG_EDDSA else ALG_ES256
    assert not verify_signature(key.public_key(), wrong_alg, s1.to_be_signed(), s1.signature)


def test_kid_in_unprotected_header_is_found():
    key = ed25519.Ed25519PrivateKey.generate()
    s1 = decode_sign1(encode_sign1(b"p", key, ALG_EDDSA, b"abcdefgh", kid_in="unprotected"))
    assert s1.kid == b"abcdefgh" and 4 not in s1.protected


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([b"", {}, b"", b""], "cose_not_sign1"),
        (cbor2.CBORTag(18, [b"", {}, b""]), "cose_structure"),
        (cbor2.CBORTag(18, [b"\x01", {}, b"", b""]), "cose_protected_header"),
        (cbor2.CBORTag(18, ["text", {}, b"", b""]), "cose_structure"),
    ],
)
def test_strict_structure(obj, reason):
    with pytest.raises(CoseFormatError) as err:
        decode_sign1(cbor2.dumps(obj))
    assert err.value.reason == reason


def _sign1_array(protected: dict | bytes, unprotected: dict, payload: bytes = b"p") -> list:
    raw = protected if isinstance(protected, bytes) else cbor2.dumps(protected)
    return [raw, unprotected, payload, b"sig"]


def test_untagged_sign1_only_when_allowed():
    """HCERT allows an untagged COSE_Sign1; our passes (the default) keep requiring tag 18."""
    data = cbor2.dumps(_sign1_array({1: ALG_ES256}, {4: b"12345678"}))
    assert decode_sign1(data, require_tag=False).kid == b"12345678"
    with pytest.raises(CoseFormatError) as err:
        decode_sign1(data)
    assert err.value.reason == "cose_not_sign1"


@pytest.mark.parametrize(
    "obj",
    [
        cbor2.CBORTag(61, _sign1_array({1: ALG_ES256}, {})),  # tag 61 must wrap a COSE tag (RFC 8392)
        cbor2.CBORTag(61, cbor2.CBORTag(98, _sign1_array({1: ALG_ES256}, {}))),
        cbor2.CBORTag(18, cbor2.CBORTag(18, _sign1_array({1: ALG_ES256}, {}))),
        {1: "not an array"},
        b"bytes",
    ],
)
def test_other_containers_are_refused(obj):
    with pytest.raises(CoseFormatError) as err:
        decode_sign1(cbor2.dumps(obj), require_tag=False)
    assert err.value.reason in ("cose_not_sign1", "cose_structure")


@pytest.mark.parametrize(
    ("protected", "unprotected", "expected"),
    [
        ({1: ALG_ES256}, {}, ALG_ES256),
        ({1: ALG_ES256, 4: b"k"}, {4: b"k"}, ALG_ES256),
        ({1: ALG_ES256}, {1: ALG_ES256}, ALG_ES256),  # the same alg twice is no conflict
        (b"", {1: ALG_PS256}, ALG_PS256),  # empty protected header: zero-length bstr
        ({}, {1: ALG_PS256}, ALG_PS256),  # ... or an empty map
        (b"", {}, None),  # no alg anywhere: the verifier calls it unsupported
        ({1: ALG_ES256}, {1: ALG_PS256}, "alg_conflict"),
        ({1: ALG_ES256}, {1: float(ALG_ES256)}, "alg_conflict"),
        ({4: b"k"}, {1: ALG_ES256}, "alg_unprotected"),  # protected has content but no alg
        ({3: "application/cwt"}, {1: ALG_ES256}, "alg_unprotected"),
    ],
)
def test_alg_header_rules(protected, unprotected, expected):
    s1 = decode_sign1(cbor2.dumps(cbor2.CBORTag(18, _sign1_array(protected, unprotected))))
    if isinstance(expected, str):
        with pytest.raises(CoseFormatError) as err:
            s1.resolve_alg()
        assert err.value.reason == expected
    else:
        assert s1.resolve_alg() == expected


def _claims(iat, exp) -> bytes:
    return cbor2.dumps({1: "VN", 6: iat, 4: exp})


@pytest.mark.parametrize(
    ("iat", "exp", "want"),
    [
        (100, 200, (100, 200)),
        (100.0, 200.0, (100, 200)),
        (100.2, 200.8, (101, 200)),  # iat rounds up, exp rounds down: the window only narrows
        (-0.5, 1e12 + 0.5, (0, 10**12)),
    ],
)
def test_time_claims_integer_or_finite_float(iat, exp, want):
    claims = decode_claims(_claims(iat, exp))
    assert (claims[6], claims[4]) == want
    assert type(claims[6]) is int and type(claims[4]) is int


def test_half_and_single_precision_floats_are_read():
    # hand-encoded map {6: half-precision 1.5, 4: single-precision 1e9} (cbor2 writes doubles)
    data = bytes([0xA2, 0x06, 0xF9, 0x3E, 0x00, 0x04, 0xFA, 0x4E, 0x6E, 0x6B, 0x28])
    claims = decode_claims(data)
    assert (claims[6], claims[4]) == (2, 1_000_000_000)


@pytest.mark.parametrize(
    "bad",
    [float("nan"), float("inf"), float("-inf"), True, False, "100", None, b"\x01", [100]],
)
@pytest.mark.parametrize("claim", ["iat", "exp"])
def test_time_claims_refused(claim, bad):
    iat, exp = (bad, 200) if claim == "iat" else (100, bad)
    with pytest.raises(CoseFormatError) as err:
        decode_claims(_claims(iat, exp))
    assert err.value.reason == "cwt_time_claim"
