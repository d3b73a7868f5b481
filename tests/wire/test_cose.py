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
