"""COSE_Sign1 / CWT: the one signed-container machinery shared by EU DCC (HC1) and our passes.

Why here: HC1 certificates and our checkpoint passes (wire/passes.py) are the same family
(RFC 9052 COSE_Sign1 carrying an RFC 8392 CWT), so the kiosk verifier and the provisioning
minter both import this module instead of each growing its own half of the format.

Nothing here touches trust, clocks or policy: it encodes, decodes with strict structural checks,
and checks one signature against one public key. Decoding failures raise `CoseFormatError`
with a short snake_case reason so a verifier can name the step that failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

# COSE algorithm identifiers (IANA COSE registry).
ALG_ES256 = -7
ALG_EDDSA = -8
ALG_PS256 = -37
ALG_NAMES = {ALG_ES256: "ES256", ALG_EDDSA: "EdDSA", ALG_PS256: "PS256"}

HDR_ALG = 1
HDR_KID = 4
TAG_SIGN1 = 18
TAG_CWT = 61
KID_LENGTH = 8  # HCERT: first 8 bytes of SHA-256 of the signer certificate (or our key's SPKI)

# CWT claim keys (RFC 8392).
CWT_ISS = 1
CWT_EXP = 4
CWT_IAT = 6
CWT_CTI = 7

MAX_COSE_BYTES = 64 * 1024  # far above any QR (<3 KiB); bounds CBOR decoding work

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class CoseFormatError(ValueError):
    """A structural problem in the COSE/CWT bytes; `reason` is a reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sign1:
    """A decoded COSE_Sign1. `protected_raw` is kept byte-exact: the signature covers it."""

    protected_raw: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def alg(self) -> object:
        return self.protected.get(HDR_ALG, self.unprotected.get(HDR_ALG))

    @property
    def kid(self) -> object:
        """The kid to look up: the protected one wins; the unprotected one is a fallback (HCERT)."""
        if HDR_KID in self.protected:
            return self.protected[HDR_KID]
        return self.unprotected.get(HDR_KID)

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_raw, self.payload)


def sig_structure(protected_raw: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 Sig_structure for COSE_Sign1 with no external AAD."""
    return cbor2.dumps(["Signature1", protected_raw, b"", payload])


def kid_for_der(der: bytes) -> bytes:
    """HCERT kid: the first 8 bytes of SHA-256 over a DER blob (certificate, or key SPKI for passes)."""
    return hashlib.sha256(der).digest()[:KID_LENGTH]


def signature_hash(alg: object, signature: bytes) -> bytes:
    """EU DCC revocation hash of a signature: SHA-256 truncated to 16 bytes; ES256 hashes only `r`."""
    data = signature[: len(signature) // 2] if alg == ALG_ES256 else signature
    return hashlib.sha256(data).digest()[:16]


def sign(private_key: PrivateKey, alg: int, data: bytes) -> bytes:
    """Sign in COSE's raw format (ES256: r||s, 64 bytes; PS256: PSS/SHA-256; EdDSA: 64 bytes)."""
    if alg == ALG_ES256 and isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == ALG_PS256 and isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, _pss(), hashes.SHA256())
    if alg == ALG_EDDSA and isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    raise ValueError(f"key type {type(private_key).__name__} cannot sign with COSE alg {alg}")


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def expected_signature_length(alg: object, public_key: PublicKey) -> int | None:
    """Exact signature size for an (alg, key) pair, or None if the pair does not match."""
    if alg == ALG_ES256 and isinstance(public_key, ec.EllipticCurvePublicKey):
        return 64 if public_key.curve.name == "secp256r1" else None
    if alg == ALG_PS256 and isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if alg == ALG_EDDSA and isinstance(public_key, ed25519.Ed25519PublicKey):
        return 64
    return None


def verify_signature(public_key: PublicKey, alg: object, data: bytes, signature: bytes) -> bool:
    """True only if `signature` over `data` is valid for this key and algorithm (exact length)."""
    if expected_signature_length(alg, public_key) != len(signature):
        return False
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, _pss(), hashes.SHA256())
        else:
            public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def encode_sign1(
    payload: bytes,
    private_key: PrivateKey,
    alg: int,
    kid: bytes | None,
    *,
    kid_in: str = "protected",
    cwt_tag: bool = False,
) -> bytes:
    """Build and sign a tagged COSE_Sign1 (optionally wrapped in CWT tag 61) as CBOR bytes."""
    protected: dict[int, object] = {HDR_ALG: alg}
    unprotected: dict[int, object] = {}
    if kid is not None:
        (protected if kid_in == "protected" else unprotected)[HDR_KID] = kid
    protected_raw = cbor2.dumps(protected)
    signature = sign(private_key, alg, sig_structure(protected_raw, payload))
    obj: object = cbor2.CBORTag(TAG_SIGN1, [protected_raw, unprotected, payload, signature])
    if cwt_tag:
        obj = cbor2.CBORTag(TAG_CWT, obj)
    return cbor2.dumps(obj)


def loads_bounded(data: bytes) -> object:
    """cbor2.loads with a size bound and every decoder failure turned into CoseFormatError.

    Maps nested in tags come back as cbor2.frozendict (a Mapping, not a dict): callers check
    `Mapping`. cbor2 can raise several exception types on hostile input (its own errors, ValueError from
    semantic tags such as bad dates, OverflowError, RecursionError); all mean "not valid CBOR
    for us", never a crash.
    """
    if len(data) > MAX_COSE_BYTES:
        raise CoseFormatError("cbor_too_large")
    try:
        return cbor2.loads(data)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, LookupError) as exc:
        raise CoseFormatError("cbor_invalid", str(exc)[:100]) from exc


def decode_sign1(data: bytes) -> Sign1:
    """Decode tag 18 (optionally inside tag 61) with strict types; raise CoseFormatError otherwise.

    Untagged COSE_Sign1 arrays are refused: the HCERT spec and our passes always tag, and a
    verifier that guesses structure is easier to confuse.
    """
    obj = loads_bounded(data)
    if isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_CWT:
        obj = obj.value
    if not (isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_SIGN1):
        raise CoseFormatError("cose_not_sign1")
    items = obj.value
    if not isinstance(items, list | tuple) or len(items) != 4:
        raise CoseFormatError("cose_structure")
    protected_raw, unprotected, payload, signature = items
    if not (
        isinstance(protected_raw, bytes)
        and isinstance(unprotected, Mapping)
        and isinstance(payload, bytes)
        and isinstance(signature, bytes)
    ):
        raise CoseFormatError("cose_structure")
    protected: object = {} if protected_raw == b"" else loads_bounded(protected_raw)
    if not isinstance(protected, Mapping):
        raise CoseFormatError("cose_protected_header")
    return Sign1(protected_raw, dict(protected), dict(unprotected), payload, signature)


def decode_claims(payload: bytes) -> dict[Any, Any]:
    """Decode a CWT claims map and check the common claims' types (iat, exp: integers)."""
    claims = loads_bounded(payload)
    if not isinstance(claims, Mapping):
        raise CoseFormatError("cwt_not_map")
    for key in (CWT_IAT, CWT_EXP):
        value = claims.get(key)
        if type(value) is not int:  # bool is an int subclass: refuse it explicitly
            raise CoseFormatError("cwt_time_claim")
    if CWT_ISS in claims and not isinstance(claims[CWT_ISS], str):
        raise CoseFormatError("cwt_issuer")
    return dict(claims)
