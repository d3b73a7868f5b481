"""Steps shared by every signed code (HC1 and our passes): signature against the trust store,
and the iat/exp window. One code path, so a fix or a hardening lands for both formats at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from common.trust import TrustedKey, TrustStore
from wire.cose import KID_LENGTH, CoseFormatError, Sign1, expected_signature_length, verify_signature

# Step names as reported in `failed_step` (CLI contract).
STEP_PREFIX = "prefix"
STEP_BASE45 = "base45"
STEP_DECOMPRESS = "decompress"
STEP_CBOR = "cbor"
STEP_SIGNATURE = "signature"
STEP_KEY_USAGE = "key_usage"
STEP_VALIDITY = "validity"
STEP_SCHEMA = "schema"
STEP_DECODE_IMAGE = "decode_image"


class StepFailure(Exception):
    """A verification step failed: `step` is the contract's step name, `reason` a reason code."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


def check_signature(
    sign1: Sign1, trust: TrustStore, allowed_algs: Collection[int], purpose: str
) -> TrustedKey:
    """Return the trusted key whose signature verifies, or raise StepFailure('signature', ...).

    Only keys trusted for `purpose` are candidates (`dcc` for HC1, `pass` for our passes): a key of
    the other purpose is `kid_unknown` here, so a DSC cannot sign a pass nor an issuer an HC1.

    `alg` follows the HCERT header rules (`Sign1.resolve_alg`: protected header, or the
    unprotected one only when the protected header is empty) and must be in `allowed_algs`.
    `kid` comes from the protected header, else the unprotected one, and must be 8 bytes. Every
    trusted key with that kid is tried (kids may collide), but only keys whose type fits the alg
    (ES256: EC P-256, PS256: RSA, EdDSA: Ed25519): that binding is what makes an unsigned alg
    safe. No candidate of the right type: `alg_key_mismatch`; right type but a signature whose
    length fits none (e.g. over-long): `signature_length`.
    """
    try:
        alg = sign1.resolve_alg()
    except CoseFormatError as exc:
        raise StepFailure(STEP_SIGNATURE, exc.reason) from exc
    if type(alg) is not int or alg not in allowed_algs:
        raise StepFailure(STEP_SIGNATURE, "alg_unsupported")
    kid = sign1.kid
    if kid is None:
        raise StepFailure(STEP_SIGNATURE, "kid_missing")
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        raise StepFailure(STEP_SIGNATURE, "kid_length")
    candidates = trust.keys_for(kid, purpose)
    if not candidates:
        raise StepFailure(STEP_SIGNATURE, "kid_unknown")
    tbs = sign1.to_be_signed()
    type_ok = length_ok = False
    for key in candidates:
        expected = expected_signature_length(alg, key.public_key)
        type_ok = type_ok or expected is not None
        if expected != len(sign1.signature):
            continue
        length_ok = True
        if verify_signature(key.public_key, alg, tbs, sign1.signature):
            return key
    if not type_ok:
        raise StepFailure(STEP_SIGNATURE, "alg_key_mismatch")
    raise StepFailure(STEP_SIGNATURE, "signature_invalid" if length_ok else "signature_length")


def check_signer_at_iat(key: TrustedKey, iat: int) -> None:
    """The signer's certificate (if it has a validity window) must have been valid when it signed."""
    when = dt.datetime.fromtimestamp(min(max(iat, 0), 2**37), dt.UTC)
    if not key.valid_at(when):
        raise StepFailure(STEP_VALIDITY, "signer_not_valid_at_iat")


def check_window(iat: int, exp: int, now: dt.datetime, skew_s: int) -> str | None:
    """`not_yet_valid` / `expired` / None, with `skew_s` tolerance on both sides."""
    now_s = now.timestamp()
    if now_s + skew_s < iat:
        return "not_yet_valid"
    if now_s - skew_s > exp:
        return "expired"
    return None
