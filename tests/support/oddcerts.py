"""DSCs built at the DER level, the way real national lists hold them and our happy path never would.

cryptography's builder only writes certificates it would also read; real lists hold some it will not:
BasicConstraints with an explicit DEFAULT FALSE (e.g. Finland's), a pathLenConstraint with cA false
(e.g. Spain's), non-positive serial numbers. asn1crypto builds the TBSCertificate with exactly those
bytes and cryptography signs it, so the tolerant reader is tested on material it did not produce.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import warnings

from asn1crypto import core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from testkit.dcc import EKU_OID, T0, Signer
from wire.cose import ALG_ES256, ALG_PS256, kid_for_der

CSCA = ec.generate_private_key(ec.SECP256R1())


def explicit_default_ca() -> asn1_x509.Extension:
    """BasicConstraints { cA BOOLEAN FALSE } written out although DER omits a DEFAULT value."""
    return _raw_extension("2.5.29.19", bytes.fromhex("3003010100"), critical=True)


def pathlen_without_ca() -> asn1_x509.Extension:
    """BasicConstraints { pathLenConstraint 0 } with cA absent (false): RFC 5280 forbids it."""
    return _raw_extension("2.5.29.19", bytes.fromhex("3003020100"), critical=True)


def eku(types: str) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {"extn_id": "extended_key_usage", "critical": False, "extn_value": [EKU_OID[t] for t in types]}
    )


def broken_eku() -> asn1_x509.Extension:
    """An EKU whose value is a SEQUENCE holding an INTEGER, not purpose OIDs: nobody can say what it
    restricts. Loaded from raw DER (asn1crypto's builder would refuse to write it)."""
    value = bytes.fromhex("3003020105")
    der = (
        b"\x30"
        + bytes([5 + 2 + len(value)])
        + bytes.fromhex("0603551d25")
        + b"\x04"
        + bytes([len(value)])
        + value
    )
    return asn1_x509.Extension.load(der)


def _raw_extension(oid: str, value: bytes, critical: bool) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {"extn_id": oid, "critical": critical, "extn_value": core.ParsableOctetString(value)}
    )


def der_certificate(
    public_key: object,
    *,
    serial: int = 4242,
    extensions: list[asn1_x509.Extension] | None = None,
    country: str = "FI",
    cn: str = "DSC odd",
    not_before: dt.datetime = T0 - dt.timedelta(days=365),
    not_after: dt.datetime = T0 + dt.timedelta(days=730),
) -> bytes:
    """A DSC for `public_key`, signed (ECDSA P-256) by a throwaway CSCA, bytes exactly as given."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": asn1_x509.Name.build({"country_name": country, "common_name": "CSCA odd"}),
            "validity": {
                "not_before": asn1_x509.Time({"utc_time": not_before}),
                "not_after": asn1_x509.Time({"utc_time": not_after}),
            },
            "subject": asn1_x509.Name.build({"country_name": country, "common_name": cn}),
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(spki),
            "extensions": extensions or [],
        }
    )
    signature = CSCA.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": signature,
        }
    ).dump()


def odd_signer(alg: int = ALG_ES256, **kwargs: object) -> tuple[Signer, bytes]:
    """A signer whose certificate is odd (see `der_certificate`): for building HC1s it signs."""
    key = (
        ec.generate_private_key(ec.SECP256R1()) if alg == ALG_ES256 else rsa.generate_private_key(65537, 2048)
    )
    der = der_certificate(key.public_key(), **kwargs)
    with warnings.catch_warnings():  # non-positive serials: cryptography warns, and loads lazily
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(der)
    signer = Signer(alg, key, cert)
    assert signer.kid == kid_for_der(der)
    return signer, der


def dsc_list_entry(der: bytes, country: str = "FI", **extra: object) -> dict[str, object]:
    """One entry as the EU gateway and national backends publish it."""
    return {
        "certificateType": "DSC",
        "country": country,
        "kid": base64.b64encode(kid_for_der(der)).decode(),
        "rawData": base64.b64encode(der).decode(),
        "signature": "MEUCIQ...",  # the gateway's upload signature; verifiers do not use it
        "thumbprint": "00" * 32,
        "timestamp": "2021-06-01T10:00:00+02:00",
        **extra,
    }


def dsc_list(entries: list[object]) -> bytes:
    return json.dumps({"certificates": entries}).encode()


def bulk_dsc_entries(
    count: int, countries: tuple[str, ...] = ("DE", "ES", "FR", "IT", "SE")
) -> tuple[list[object], Signer]:
    """`count` DSC list entries about the size of real ones (RSA-3072 keys, as many issuers use), quickly:
    one key pair shared by all (key generation is the slow part), each certificate distinct by serial.
    Also a PS256 signer holding the last certificate, to sign HC1s with."""
    private = rsa.generate_private_key(65537, 3072)
    key = private.public_key()
    builder = (
        x509.CertificateBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CSCA bulk")]))
        .public_key(key)
        .not_valid_before(T0 - dt.timedelta(days=365))
        .not_valid_after(T0 + dt.timedelta(days=730))
    )
    entries: list[object] = []
    for n in range(count):
        country = countries[n % len(countries)]
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministry of Health, Digital Certificates"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"DSC bulk {n:05d}"),
            ]
        )
        cert = builder.subject_name(name).serial_number(n + 1).sign(CSCA, hashes.SHA256())
        entries.append(dsc_list_entry(cert.public_bytes(serialization.Encoding.DER), country))
    return entries, Signer(ALG_PS256, private, cert)
