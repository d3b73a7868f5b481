"""Trust store: the issuer keys and DCC signer certificates a kiosk accepts, indexed by kid.

Keys are parsed once at load (parsing X.509 costs far more than verifying), and lookups are a
dict access. Several keys may share a kid (HCERT allows collisions): callers try each one.

Sources: PEM files (any mix of certificates and public keys), DER certificates, directories of
those, and `add_entries` for the hub's signed trust list (the link work feeds it parsed data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from wire.cose import PublicKey, kid_for_der

# HCERT §5.1.1: EKU OIDs restricting which certificate types a DSC may sign. Both arcs occur.
EKU_TYPES: dict[str, str] = {
    "1.3.6.1.4.1.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r",
    "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}
MAX_TRUST_FILE = 1024 * 1024


class TrustLoadError(ValueError):
    """A trust file that cannot be used (names the file)."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One key the kiosk trusts. `allowed_types` None means the key may sign any DCC type."""

    kid: bytes
    public_key: PublicKey
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    allowed_types: frozenset[str] | None = None
    source: str = ""

    def valid_at(self, when: dt.datetime) -> bool:
        if self.not_before is not None and when < self.not_before:
            return False
        return not (self.not_after is not None and when > self.not_after)


def spki_kid(public_key: PublicKey) -> bytes:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kid_for_der(spki)


def key_from_certificate(cert: x509.Certificate, source: str = "") -> TrustedKey:
    """A DSC: kid from the certificate DER, validity window, and HCERT EKU type restrictions."""
    public_key = cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise TrustLoadError(f"{source}: unsupported key type {type(public_key).__name__}")
    allowed: frozenset[str] | None = None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None:
        types = {EKU_TYPES[oid.dotted_string] for oid in eku if oid.dotted_string in EKU_TYPES}
        # No DCC OID at all (e.g. only clientAuth) means "no restriction", as the spec says.
        allowed = frozenset(types) if types else None
    return TrustedKey(
        kid=kid_for_der(cert.public_bytes(serialization.Encoding.DER)),
        public_key=public_key,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        allowed_types=allowed,
        source=source,
    )


def key_from_public_key(public_key: object, source: str = "") -> TrustedKey:
    """A bare issuer key (our passes): kid from its SPKI, no validity window, no type limits."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise TrustLoadError(f"{source}: unsupported key type {type(public_key).__name__}")
    return TrustedKey(kid=spki_kid(public_key), public_key=public_key, source=source)


class TrustStore:
    """kid -> trusted keys. Build it once at start; `keys_for` is the hot path."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._by_kid: dict[bytes, list[TrustedKey]] = {}
        self._parsed: dict[bytes, TrustedKey] = {}  # sha256(DER) -> parsed key
        self.version = 0
        for key in keys:
            self.add(key)

    def add(self, key: TrustedKey) -> None:
        bucket = self._by_kid.setdefault(key.kid, [])
        if all(k.public_key != key.public_key for k in bucket):
            bucket.append(key)

    def add_der(self, der: bytes, kind: str = "certificate", source: str = "trust-list") -> TrustedKey:
        """Add a DER certificate or SubjectPublicKeyInfo (the hub's trust list carries DER).

        Parsed keys are cached by the DER's SHA-256: the retained trust list is re-sent on every
        reconnect, and re-parsing hundreds of X.509 certificates each time would be wasted work.
        """
        digest = hashlib.sha256(der).digest()
        key = self._parsed.get(digest)
        if key is None:
            key = self._parsed[digest] = key_from_der(der, kind, source)
        self.add(key)
        return key

    def replace_all(self, keys: Iterable[TrustedKey], version: int) -> None:
        """Swap in a complete, verified trust list (keys absent from it are no longer trusted)."""
        if version <= self.version:
            raise ValueError(f"trust list version {version} is not newer than {self.version}")
        self._by_kid = {}
        for key in keys:
            self.add(key)
        self.version = version

    def add_entries(self, keys: Iterable[TrustedKey], version: int) -> None:
        """Merge a verified trust list from the hub (the link work checks its signature first)."""
        for key in keys:
            self.add(key)
        self.version = max(self.version, version)

    def all_keys(self) -> list[TrustedKey]:
        return [key for bucket in self._by_kid.values() for key in bucket]

    def keys_for(self, kid: bytes) -> tuple[TrustedKey, ...]:
        return tuple(self._by_kid.get(kid, ()))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kid.values())

    def load_path(self, path: Path) -> int:
        """Load a file or every regular file of a directory (not recursive). Returns keys added."""
        before = len(self)
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        found = 0
        for file in files:
            for key in load_file(file):
                found += 1
                self.add(key)
        if not found:
            raise TrustLoadError(f"{path}: no certificate or public key found")
        return len(self) - before

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> TrustStore:
        store = cls()
        for path in paths:
            store.load_path(path)
        return store


def key_from_der(der: bytes, kind: str, source: str = "") -> TrustedKey:
    """A DER certificate (`kind` "certificate") or SubjectPublicKeyInfo ("public_key") as a trusted key."""
    try:
        if kind == "certificate":
            return key_from_certificate(x509.load_der_x509_certificate(der), source)
        return key_from_public_key(serialization.load_der_public_key(der), source)
    except (ValueError, TypeError) as exc:
        raise TrustLoadError(f"{source}: unparseable {kind}") from exc


def read_entries(path: Path) -> list[tuple[str, bytes]]:
    """(kind, DER) of each certificate and public key in a PEM file (several blocks) or a DER file.

    The one reader of trust files: the kiosk turns the entries into keys (`load_file`), the hub sends
    them in its trust list. Private-key blocks are skipped: a kiosk needs none (the hub refuses them).
    """
    data = path.read_bytes()[: MAX_TRUST_FILE + 1]
    if len(data) > MAX_TRUST_FILE:
        raise TrustLoadError(f"{path}: larger than {MAX_TRUST_FILE} bytes")
    if b"-----BEGIN" not in data:
        for kind, parse in (
            ("certificate", x509.load_der_x509_certificate),
            ("public_key", serialization.load_der_public_key),
        ):
            try:
                parse(data)
                return [(kind, data)]
            except (ValueError, TypeError):
                continue
        raise TrustLoadError(f"{path}: neither PEM nor a DER certificate or public key")
    entries: list[tuple[str, bytes]] = []
    for block in _pem_blocks(data):
        lines = block.splitlines()
        label = lines[0]
        kind = "certificate" if b"CERTIFICATE" in label else "public_key" if b"PUBLIC KEY" in label else None
        if kind is None:
            continue  # private keys and other blocks are ignored on purpose
        try:
            entries.append((kind, base64.b64decode(b"".join(lines[1:-1]), validate=True)))
        except binascii.Error:
            raise TrustLoadError(f"{path}: bad PEM block {label.decode(errors='replace')}") from None
    if not entries and b"PRIVATE KEY" not in data:  # a private key next to its public one: skip it
        raise TrustLoadError(f"{path}: no certificate or public key found")
    return entries


def load_file(path: Path) -> list[TrustedKey]:
    """The keys of a trust file (see `read_entries`)."""
    return [key_from_der(der, kind, str(path)) for kind, der in read_entries(path)]


def _pem_blocks(data: bytes) -> list[bytes]:
    blocks = []
    rest = data
    while (start := rest.find(b"-----BEGIN")) != -1:
        end_marker = rest.find(b"-----END", start)
        if end_marker == -1:
            break
        end = rest.find(b"-----", end_marker + 8)
        if end == -1:
            break
        blocks.append(rest[start : end + 5])
        rest = rest[end + 5 :]
    return blocks
