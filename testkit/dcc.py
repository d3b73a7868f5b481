"""Synthetic EU DCC test material: a CSCA, signer certificates (ES256, PS256, with and without
HCERT EKU restrictions) and an HC1 builder that can corrupt exactly one step at a time.

The builder also produces every encoding the HCERT specification allows and national issuers
use (float iat/exp, untagged COSE_Sign1, CWT tag 61, kid in either header, alg in the
unprotected header with an empty protected header), and `dcc_example` writes a payload of every
released schema version following that version's own schema (tests validate the examples
against the official schema, so the material itself is checked).

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
DROP = object()  # in Hc1Spec.claims_override: leave that claim out


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


SCHEMA_VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.3.1", "1.3.2", "1.3.3")


def dcc_example(ver: str, cert_type: str, uci: str = "URN:UVCI:01:VN:TEST0001#X") -> dict:
    """A realistic payload of schema version `ver`, written to that version's schema.

    Each version's example uses what that version allows and its neighbours do not, so a
    verifier that validated against the wrong schema would fail one of them:
    1.0.x: full dob only; the test entry requires `tc` and may carry `dr` (result time).
    1.1.0: partial dob ("YYYY-MM"). 1.2.x: `dr` gone, `tc` still required, names <= 50 chars.
    1.3.0: `tc` optional, dob a year only. 1.3.1: empty dob, `sc` with a "+hhmm" offset (the
    schema project's own valid test case T-rat-dates2). 1.3.2 and 1.3.3: only a transliterated
    forename (`gnt`, allowed from 1.3.2), and 1.3.3 a booster dose 3/3 (no dn <= 9 cap since 1.3.0).
    """
    v = tuple(int(p) for p in ver.split("."))
    nam: dict[str, str] = {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"}
    dob = "1999-01-01"
    sc = "2026-11-21T08:00:00Z"
    dose = (2, 2)
    if v == (1, 1, 0) or v[:2] == (1, 2):
        dob = "1999-01"
    elif v == (1, 3, 0):
        dob = "1999"
    elif v == (1, 3, 1):
        dob, sc = "", "2026-11-21T15:00:00+0700"
    elif v >= (1, 3, 2):
        nam = {"gn": "An", "gnt": "AN"}  # a person with a single name
        dose = (3, 3) if v >= (1, 3, 3) else dose
    test: dict[str, object] = {
        "tg": "840539006",
        "tt": "LP217198-3",  # rapid antigen test
        "ma": "1232",
        "sc": sc,
        "tr": "260415000",  # not detected
        "co": "VN",
        "is": "Bo Y te",
        "ci": uci,
    }
    if v < (1, 3, 0):
        test["tc"] = "BV Bach Mai, Ha Noi"  # required before 1.3.0
    if v < (1, 2, 0):
        test.update(tt="LP6464-4", nm="Roche LightCycler qPCR", dr="2026-11-21T10:30:00Z")
        del test["ma"]
    entries = {
        "v": {
            "tg": "840539006",
            "vp": "1119349007",
            "mp": "EU/1/20/1528",
            "ma": "ORG-100030215",
            "dn": dose[0],
            "sd": dose[1],
            "dt": "2026-06-01",
            "co": "VN",
            "is": "Bo Y te",
            "ci": uci,
        },
        "t": test,
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
    return {"ver": ver, "nam": nam, "dob": dob, cert_type: [entries[cert_type]]}


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
    kid_in: str = "protected"  # protected | unprotected | both | none
    unprotected_kid: bytes | None = None  # with kid_in="both": a different unprotected kid
    alg: int | None = None  # default: the signer's alg
    alg_in: str = "protected"  # protected | unprotected | both | none
    unprotected_alg: int | None = None  # with alg_in="both": a different unprotected alg
    extra_protected: dict = field(default_factory=dict)  # e.g. {3: "application/cwt"} (content type)
    empty_protected: str = "bstr"  # an empty protected header as a zero-length bstr, or "map" (a0)
    times: str = "int"  # iat/exp as CBOR "int" or "float" (some national issuers use floats)
    tagged: bool = True  # COSE tag 18 (HCERT allows an untagged COSE_Sign1 array)
    cwt_tag: bool = False
    compress: bool = True
    claims_override: dict = field(default_factory=dict)  # claim -> value (DROP: leave it out)
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
    iat, exp = spec.iat.timestamp(), spec.exp.timestamp()
    if spec.times == "int":
        iat, exp = int(iat), int(exp)
    claims = {1: "VN", 6: iat, 4: exp, -260: {1: dcc}}
    claims.update(spec.claims_override)
    claims = {k: v for k, v in claims.items() if v is not DROP}
    payload = cbor2.dumps(claims)
    kid = spec.kid if spec.kid is not None else spec.signer.kid
    alg = spec.alg if spec.alg is not None else spec.signer.alg
    protected: dict = dict(spec.extra_protected)
    unprotected: dict = {}
    if spec.alg_in in ("protected", "both"):
        protected[HDR_ALG] = alg
    if spec.alg_in in ("unprotected", "both"):
        unprotected[HDR_ALG] = spec.unprotected_alg if spec.unprotected_alg is not None else alg
    if spec.kid_in in ("protected", "both"):
        protected[HDR_KID] = kid
    if spec.kid_in in ("unprotected", "both"):
        unprotected[HDR_KID] = spec.unprotected_kid if spec.unprotected_kid is not None else kid
    protected_raw = cbor2.dumps(protected) if protected or spec.empty_protected == "map" else b""
    sign_alg = spec.signer.alg
    signature = sign(spec.sign_key or spec.signer.key, sign_alg, sig_structure(protected_raw, payload))
    if spec.corrupt_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    signature += spec.extra_signature
    items = [protected_raw, unprotected, payload, signature]
    obj: object = cbor2.CBORTag(TAG_SIGN1, items) if spec.tagged else items
    if spec.cwt_tag:
        obj = cbor2.CBORTag(TAG_CWT, obj)
    return cbor2.dumps(obj)
