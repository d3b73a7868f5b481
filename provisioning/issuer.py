"""Issuer side of checkpoint passes: make issuer keys, mint signed passes (formats.md §4).

An issuer (the registry, a province) holds a private key; kiosks hold only its public key
(via the trust store). The pass format itself lives in wire/passes.py and the COSE signing in
wire/cose.py, so what we mint is by construction what the kiosk parses.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from common.keyfiles import write_private
from wire import passes
from wire.cose import ALG_EDDSA, ALG_ES256, PrivateKey, PublicKey, encode_sign1, kid_for_der
from wire.passes import PassClaims, PassScope

IssuerAlg = Literal["Ed25519", "ES256"]


def public_key_kid(public_key: PublicKey) -> bytes:
    """kid of an issuer key: first 8 bytes of SHA-256 of its SubjectPublicKeyInfo DER."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kid_for_der(spki)


@dataclass(frozen=True)
class IssuerKey:
    issuer: str
    private_key: PrivateKey
    alg: int  # COSE alg

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    @property
    def kid(self) -> bytes:
        return public_key_kid(self.public_key)

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def create_issuer_key(issuer: str, alg: IssuerAlg = "Ed25519") -> IssuerKey:
    """A fresh issuer key. Ed25519 gives the smallest, fastest passes; ES256 for HSMs that lack it."""
    if alg == "Ed25519":
        return IssuerKey(issuer, ed25519.Ed25519PrivateKey.generate(), ALG_EDDSA)
    if alg == "ES256":
        return IssuerKey(issuer, ec.generate_private_key(ec.SECP256R1()), ALG_ES256)
    raise ValueError(f"unsupported issuer algorithm {alg!r}")


def save_issuer_key(key: IssuerKey, directory: Path) -> tuple[Path, Path]:
    """Write `<kid>.key.pem` (private, mode 0600) and `<kid>.pub.pem` (for kiosks' --trust)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = key.kid.hex()
    private_path = directory / f"{name}.key.pem"
    public_path = directory / f"{name}.pub.pem"
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(private_path, pem)  # 0600 from the first byte, even over an older, wider file
    public_path.write_bytes(key.public_pem())
    return private_path, public_path


def load_issuer_key(path: Path, issuer: str) -> IssuerKey:
    """Load a PKCS#8 PEM private key written by save_issuer_key."""
    private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return IssuerKey(issuer, private_key, ALG_EDDSA)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return IssuerKey(issuer, private_key, ALG_ES256)
    raise ValueError(f"{path}: not an Ed25519 or P-256 key")


def mint_pass(
    key: IssuerKey,
    *,
    id_number: str,
    name: str,
    dob: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    pass_id: bytes | None = None,
    scope: PassScope | None = None,
) -> str:
    """Return the QR text (`VNP1:...`) of a signed pass. Raises PassFormatError on bad claims."""
    claims = PassClaims(
        issuer=key.issuer,
        iat=int(valid_from.timestamp()),
        exp=int(valid_until.timestamp()),
        pass_id=pass_id if pass_id is not None else secrets.token_bytes(8),
        id_number=id_number,
        name=name,
        dob=dob,
        scope=scope if scope is not None else PassScope(),
    )
    return sign_claims(key, claims)


def sign_claims(key: IssuerKey, claims: PassClaims) -> str:
    """Sign already-built claims (used by mint_pass and by tests that need exact claims)."""
    payload = cbor2.dumps(passes.encode_claims(claims))
    return passes.to_text(encode_sign1(payload, key.private_key, key.alg, key.kid))
