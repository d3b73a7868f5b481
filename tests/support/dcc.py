"""Synthetic EU DCC test material: a CSCA, signer certificates (ES256, PS256, with and without
HCERT EKU restrictions) and an HC1 builder that can corrupt exactly one step at a time.

Synthetic names only; no real person's data.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from wire.cose import (
    ALG_ES256,
    HDR_ALG,
    HDR_KID,
    TAG_CWT,
    TAG_SIGN1,
    kid_for_der,
    sig_structure,
    sign,
)

EKU_OID = {
    "t": "1.3.6.1.4.1.1847.2021.1.1",
    "v": "1.3.6.1.4.1.1847.2021.1.2",
    "r": "1.3.6.1.4.1.1847.2021.1.3",
}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # certificates valid 2025-2028; DCCs issued around NOW
NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


@dataclass
class Signer:
    alg: int
    key: object
    cert: x509.Certificate

    @property
    def kid(self) -> bytes:
        return kid_for_der(self.cert.public_bytes(serialization.Encoding.DER))

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def make_signer(
    alg: int,
    types: str | None = None,
    csca_key: object | None = None,
    not_before: dt.datetime = T0 - dt.timedelta(days=365),
    not_after: dt.datetime = T0 + dt.timedelta(days=730),
    alt_arc: bool = False,
) -> Signer:
    """A DSC signed by a throwaway CSCA. `types` like "v" or "tr" adds the HCERT EKU OIDs."""
    key = (
        ec.generate_private_key(ec.SECP256R1()) if alg == ALG_ES256 else rsa.generate_private_key(65537, 2048)
    )
    csca_key = csca_key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"DSC {alg} {types}"))
        .issuer_name(_name("CSCA test"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if types:
        oids = [EKU_OID[t] for t in types]
        if alt_arc:  # the spec's other arc: 1.3.6.1.4.1.0.1847.2021.1.x
            oids = [o.replace("1.3.6.1.4.1.1847", "1.3.6.1.4.1.0.1847") for o in oids]
        usages = [x509.ObjectIdentifier(o) for o in oids]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    cert = builder.sign(csca_key, hashes.SHA256())
    return Signer(alg, key, cert)


def dcc_payload(cert_type: str = "v", uci: str = "URN:UVCI:01:VN:TEST0001#X") -> dict:
    entries = {
        "v": {
            "tg": "840539006",
            "vp": "1119349007",
            "mp": "EU/1/20/1528",
            "ma": "ORG-100030215",
            "dn": 2,
            "sd": 2,
            "dt": "2021-09-01",
            "co": "VN",
            "is": "Bo Y te",
            "ci": uci,
        },
        "t": {
            "tg": "840539006",
            "tt": "LP6464-4",
            "sc": "2026-11-21T08:00:00Z",
            "tr": "260415000",
            "tc": "BV Test",
            "co": "VN",
            "is": "Bo Y te",
            "ci": uci,
        },
        "r": {
            "tg": "840539006",
            "fr": "2026-06-01",
            "co": "VN",
            "is": "Bo Y te",
            "df": "2026-06-12",
            "du": "2026-12-01",
            "ci": uci,
        },
    }
    return {
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"},
        "dob": "1999-01-01",
        cert_type: [entries[cert_type]],
    }


@dataclass
class Hc1Spec:
    """Every knob a negative case turns. Defaults make a valid certificate."""

    signer: Signer
    cert_type: str = "v"
    dcc: dict | None = None
    iat: dt.datetime = NOW - dt.timedelta(days=1)
    exp: dt.datetime = NOW + dt.timedelta(days=180)
    prefix: str = "HC1:"
    kid: bytes | None = None  # default: the signer's kid
    kid_in: str = "protected"  # protected | unprotected | none
    alg: int | None = None  # default: the signer's alg
    cwt_tag: bool = False
    compress: bool = True
    claims_override: dict = field(default_factory=dict)
    corrupt_signature: bool = False
    extra_signature: bytes = b""
    sign_key: object | None = None
    uci: str = "URN:UVCI:01:VN:TEST0001#X"


def build_hc1(spec: Hc1Spec) -> str:
    return wrap(build_cose(spec), prefix=spec.prefix, compress=spec.compress)


def wrap(cose: bytes, prefix: str = "HC1:", compress: bool = True) -> str:
    data = zlib.compress(cose, 9) if compress else cose
    return prefix + base45.b45encode(data).decode("ascii")


def build_cose(spec: Hc1Spec) -> bytes:
    dcc = spec.dcc if spec.dcc is not None else dcc_payload(spec.cert_type, spec.uci)
    claims = {1: "VN", 6: int(spec.iat.timestamp()), 4: int(spec.exp.timestamp()), -260: {1: dcc}}
    claims.update(spec.claims_override)
    payload = cbor2.dumps(claims)
    kid = spec.kid if spec.kid is not None else spec.signer.kid
    alg = spec.alg if spec.alg is not None else spec.signer.alg
    protected = {HDR_ALG: alg}
    unprotected = {}
    if spec.kid_in == "protected":
        protected[HDR_KID] = kid
    elif spec.kid_in == "unprotected":
        unprotected[HDR_KID] = kid
    protected_raw = cbor2.dumps(protected)
    sign_alg = spec.signer.alg
    signature = sign(spec.sign_key or spec.signer.key, sign_alg, sig_structure(protected_raw, payload))
    if spec.corrupt_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    signature += spec.extra_signature
    obj = cbor2.CBORTag(TAG_SIGN1, [protected_raw, unprotected, payload, signature])
    if spec.cwt_tag:
        obj = cbor2.CBORTag(TAG_CWT, obj)
    return cbor2.dumps(obj)
