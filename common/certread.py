"""Read what a kiosk needs from a DSC (public key, validity, HCERT EKU types), tolerantly where it may.

Real national trust lists hold certificates `cryptography` will not fully read: BasicConstraints with
an explicit DEFAULT FALSE, a pathLenConstraint with cA false, an oversized field (it raises when the
extensions are read), and non-positive serial numbers (loaded today with a deprecation warning,
refused in a later release). None of these touch what a verifier uses, and HCERT verifiers do not
validate the DSC's own profile, so such a certificate is read a second time with asn1crypto, which
decodes the structure without enforcing RFC 5280's profile rules.

What is never relaxed: the public key is parsed by `cryptography` from the SubjectPublicKeyInfo, and
if the extensions cannot be read, or hold more than one EKU, the certificate is unusable rather than
unrestricted (an EKU we cannot read may restrict the certificate to one DCC type; ignoring it would
widen what it may sign).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from wire.cose import PublicKey

# HCERT §5.1.1: EKU OIDs restricting which certificate types a DSC may sign. Both arcs occur.
EKU_TYPES: dict[str, str] = {
    "1.3.6.1.4.1.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r",
    "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}
EKU_OID = ExtensionOID.EXTENDED_KEY_USAGE.dotted_string
SUPPORTED_KEYS = (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)


class UnusableCertificate(ValueError):
    """Neither reader could get a usable key with a known signing scope out of the certificate."""


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The parts of a DSC a verifier uses. `allowed_types` None: may sign every DCC type."""

    public_key: PublicKey
    not_before: dt.datetime
    not_after: dt.datetime
    allowed_types: frozenset[str] | None
    subject: str
    country: str
    tolerant: bool  # read by asn1crypto because cryptography would not (listed by `kiosk trust`)


def supported_key(public_key: object) -> PublicKey:
    if not isinstance(public_key, SUPPORTED_KEYS):
        raise UnusableCertificate(f"unsupported key type {type(public_key).__name__}")
    return public_key


def allowed_types(eku_oids: Iterable[str]) -> frozenset[str] | None:
    """HCERT: the DCC OIDs present restrict the types; none of them (e.g. only clientAuth) means any."""
    types = {EKU_TYPES[oid] for oid in eku_oids if oid in EKU_TYPES}
    return frozenset(types) if types else None


def info_from_certificate(cert: x509.Certificate) -> CertInfo:
    """The strict reader (fast, native). Raises ValueError where the certificate breaks RFC 5280."""
    public_key = supported_key(cert.public_key())
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    countries = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    return CertInfo(
        public_key=public_key,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        allowed_types=None if eku is None else allowed_types(oid.dotted_string for oid in eku),
        subject=cert.subject.rfc4514_string(),
        country=str(countries[0].value) if countries else "",
        tolerant=False,
    )


def read_certificate(der: bytes) -> CertInfo:
    """A DER certificate's key, validity and EKU types; raises UnusableCertificate saying why not."""
    try:
        parsed = asn1_x509.Certificate.load(der, strict=True)
        serial = parsed["tbs_certificate"]["serial_number"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise UnusableCertificate(f"not a DER certificate ({_short(exc)})") from None
    if serial > 0:  # cryptography warns on non-positive serials today and will refuse them later
        try:
            return info_from_certificate(x509.load_der_x509_certificate(der))
        except UnusableCertificate:
            raise
        except Exception:  # ValueError, DuplicateExtension (no ValueError), ...: any refusal
            pass  # whatever the strict reader refuses, the tolerant one decides below
    try:
        return _info_from_asn1(parsed)
    except UnusableCertificate:
        raise
    except Exception as exc:  # one odd entry of a list must never stop the kiosk
        raise UnusableCertificate(f"unreadable certificate ({type(exc).__name__}: {_short(exc)})") from None


def _info_from_asn1(cert: asn1_x509.Certificate) -> CertInfo:
    try:
        tbs = cert["tbs_certificate"]
        spki = tbs["subject_public_key_info"].dump()
        validity = tbs["validity"]
        not_before, not_after = validity["not_before"].native, validity["not_after"].native
        subject = tbs["subject"]
        subject_text = _rfc4514(subject)
        country = subject.native.get("country_name", "")
    except (ValueError, TypeError, KeyError) as exc:
        raise UnusableCertificate(f"unreadable certificate fields ({_short(exc)})") from None
    try:
        public_key = supported_key(serialization.load_der_public_key(spki))
    except UnusableCertificate:
        raise
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise UnusableCertificate(f"unreadable public key ({_short(exc)})") from None
    try:
        ekus = [
            [oid.dotted for oid in ext["extn_value"].parsed]
            for ext in tbs["extensions"]
            if ext["extn_id"].dotted == EKU_OID
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise UnusableCertificate(f"extensions unreadable, so its EKU is unknown ({_short(exc)})") from None
    if len(ekus) > 1:
        raise UnusableCertificate("more than one EKU extension")
    if not isinstance(not_before, dt.datetime) or not isinstance(not_after, dt.datetime):
        raise UnusableCertificate("unreadable validity")
    return CertInfo(
        public_key=public_key,
        not_before=not_before.astimezone(dt.UTC),
        not_after=not_after.astimezone(dt.UTC),
        allowed_types=allowed_types(ekus[0]) if ekus else None,
        subject=subject_text,
        country=country if isinstance(country, str) else "",
        tolerant=True,
    )


_SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}  # fmt: skip


def _rfc4514(name: asn1_x509.Name) -> str:
    """The subject as cryptography's `rfc4514_string` writes it, so both readers list alike."""
    parts = []
    for rdn in reversed(name.chosen):
        attrs = []
        for ava in rdn:
            oid = ava["type"].dotted
            value = ava["value"].native
            text = value if isinstance(value, str) else str(value)
            for ch in ("\\", ",", "+", '"', "<", ">", ";"):
                text = text.replace(ch, "\\" + ch)
            attrs.append(f"{_SHORT_NAMES.get(oid, oid)}={text}")
        parts.append("+".join(attrs))
    return ",".join(parts)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
