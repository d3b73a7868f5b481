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
import math
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
        """The alg as written (protected wins). Use `resolve_alg` before trusting it: it applies
        the header rules; this property is for code that runs after that check (revocation hash)."""
        return self.protected.get(HDR_ALG, self.unprotected.get(HDR_ALG))

    def resolve_alg(self) -> object:
        """The signature algorithm under the HCERT header rules, or CoseFormatError naming the breach.

        HCERT (and the EU reference verifiers) take `alg` from the protected header, and from the
        unprotected one only when the protected header is empty (a zero-length bstr or an empty
        map: then nothing is signed but the payload). That is safe only because the caller also
        binds the algorithm to the key's type (ES256 <-> EC P-256, PS256 <-> RSA, EdDSA <->
        Ed25519: `expected_signature_length`), so swapping an unsigned alg gains nothing.
        Refused: a protected header with content but no alg (`alg_unprotected`: the signer chose
        to protect headers and left alg out), and an unprotected alg that differs from the
        protected one (`alg_conflict`). No alg anywhere: None (the caller's "unsupported").
        """
        if HDR_ALG in self.protected:
            alg = self.protected[HDR_ALG]
            if HDR_ALG in self.unprotected and not _same(self.unprotected[HDR_ALG], alg):
                raise CoseFormatError("alg_conflict")
            return alg
        if HDR_ALG not in self.unprotected:
            return None
        if self.protected:
            raise CoseFormatError("alg_unprotected")
        return self.unprotected[HDR_ALG]

    @property
    def kid(self) -> object:
        """The kid to look up: the protected one wins; the unprotected one is a fallback (HCERT)."""
        if HDR_KID in self.protected:
            return self.protected[HDR_KID]
        return self.unprotected.get(HDR_KID)

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_raw, self.payload)


def _same(a: object, b: object) -> bool:
    """Equal with the same type (CBOR -7 and -7.0 or True and 1 are different header values)."""
    return type(a) is type(b) and a == b


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


def decode_sign1(data: bytes, *, require_tag: bool = True) -> Sign1:
    """Decode a COSE_Sign1 with strict types; raise CoseFormatError otherwise.

    Accepted containers: tag 18 (COSE_Sign1), optionally inside CWT tag 61 (RFC 8392 §6: the
    CWT tag wraps a COSE tag, so tag 61 around an untagged array is refused). With
    `require_tag=False` (HCERT: issuers differ, and the spec and the EU reference verifiers
    accept both) a bare 4-element array is accepted too. Our passes keep `require_tag=True`:
    we mint them, always tagged, and have no foreign issuer to interoperate with. Any other tag
    or shape is `cose_not_sign1`.
    """
    obj = loads_bounded(data)
    if isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_CWT:
        obj = obj.value
        if not (isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_SIGN1):
            raise CoseFormatError("cose_not_sign1")
    if isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_SIGN1:
        items = obj.value
    elif not require_tag and isinstance(obj, list | tuple):
        items = obj
    else:
        raise CoseFormatError("cose_not_sign1")
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
    """Decode an HCERT CWT claims map and normalise the common claims (raises CoseFormatError).

    `iat` and `exp` (both required) may be CBOR integers or floats: some national issuers
    encode them as floats and the EU reference verifiers accept that. Only finite numbers are
    accepted (NaN and ±inf, booleans, strings, tags such as a tag-1 date: `cwt_time_claim`).
    A fractional value never widens the validity window: `iat` rounds up and `exp` rounds
    down, so the returned claims hold integers and everything downstream stays integer seconds.
    (Our `VNP1:` passes have their own, integer-only claims: wire/passes.py.)
    """
    claims = loads_bounded(payload)
    if not isinstance(claims, Mapping):
        raise CoseFormatError("cwt_not_map")
    out = dict(claims)
    out[CWT_IAT] = _seconds(claims.get(CWT_IAT), math.ceil)
    out[CWT_EXP] = _seconds(claims.get(CWT_EXP), math.floor)
    if CWT_ISS in claims and not isinstance(claims[CWT_ISS], str):
        raise CoseFormatError("cwt_issuer")
    return out


def _seconds(value: object, rounding: Any) -> int:
    """An epoch-seconds claim as an int: int as is, finite float rounded the given way."""
    if type(value) is int:  # bool is an int subclass: refused by the exact type check
        return value
    if type(value) is float and math.isfinite(value):
        return int(rounding(value))
    raise CoseFormatError("cwt_time_claim")
