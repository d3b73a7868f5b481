"""Trust store: the keys a kiosk accepts, each bound to a purpose, indexed by (purpose, kid).

Purpose: `dcc` keys (EU DSCs, with their validity and HCERT EKU type limits) verify `HC1:` certificates
only; `pass` keys (this deployment's issuers) verify `VNP1:` checkpoint passes only. So a foreign or
leaked DSC cannot mint checkpoint passes, and a pass issuer cannot sign a health certificate.

Keys are parsed once (parsing X.509 costs far more than verifying; a national list holds ~1000), and
lookups are a dict access. Several keys may share a kid (HCERT allows collisions): callers try each.
Sources (common/trustfiles.py): PEM/DER files, directories, JSON DSC lists; and the hub's signed
trust list (`load_entries`). An unusable entry is skipped and kept in `skipped`, never fatal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from common.certread import (
    EKU_TYPES,
    CertInfo,
    UnusableCertificate,
    info_from_certificate,
    read_certificate,
    supported_key,
)
from common.trustfiles import MAX_TRUST_FILE, TrustLoadError, read_source
from wire.cose import PublicKey, kid_for_der
from wire.trustlist import PURPOSE_DCC, PURPOSE_PASS, PURPOSES, Skipped, TrustEntry, default_purpose

__all__ = [
    "EKU_TYPES",
    "MAX_TRUST_FILE",
    "PURPOSE_DCC",
    "PURPOSE_PASS",
    "TrustLoadError",
    "TrustStore",
    "TrustedKey",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One key the kiosk trusts, for one purpose. `allowed_types` None: may sign any DCC type."""

    kid: bytes
    public_key: PublicKey
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    allowed_types: frozenset[str] | None = None
    source: str = ""
    purpose: str = PURPOSE_DCC
    country: str = ""
    subject: str = ""
    tolerant: bool = False  # read by the tolerant certificate reader (common/certread.py)

    def valid_at(self, when: dt.datetime) -> bool:
        if self.not_before is not None and when < self.not_before:
            return False
        return not (self.not_after is not None and when > self.not_after)


def spki_kid(public_key: PublicKey) -> bytes:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kid_for_der(spki)


def key_from_certificate(cert: x509.Certificate, source: str = "", purpose: str = PURPOSE_DCC) -> TrustedKey:
    """A DSC: kid from the certificate DER, validity window, and HCERT EKU type restrictions."""
    try:
        info = info_from_certificate(cert)
    except (ValueError, TypeError) as exc:
        raise TrustLoadError(f"{source}: {exc}") from None
    return _certificate_key(cert.public_bytes(serialization.Encoding.DER), info, source, purpose)


def _certificate_key(der: bytes, info: CertInfo, source: str, purpose: str) -> TrustedKey:
    return TrustedKey(
        kid=kid_for_der(der),
        public_key=info.public_key,
        not_before=info.not_before,
        not_after=info.not_after,
        allowed_types=info.allowed_types,
        source=source,
        purpose=purpose,
        country=info.country,
        subject=info.subject,
        tolerant=info.tolerant,
    )


def key_from_public_key(public_key: object, source: str = "", purpose: str = PURPOSE_PASS) -> TrustedKey:
    """A bare key (our pass issuers): kid from its SPKI, no validity window, no type limits."""
    try:
        key = supported_key(public_key)
    except UnusableCertificate as exc:
        raise TrustLoadError(f"{source}: {exc}") from None
    return TrustedKey(kid=spki_kid(key), public_key=key, source=source, purpose=purpose)


def key_from_der(der: bytes, kind: str, source: str = "", purpose: str | None = None) -> TrustedKey:
    """A DER certificate (`kind` "certificate", read tolerantly) or SubjectPublicKeyInfo ("public_key")."""
    purpose = purpose or default_purpose(kind)
    if kind == "certificate":
        try:
            info = read_certificate(der)
        except UnusableCertificate as exc:
            raise TrustLoadError(f"{source}: {exc}") from None
        return _certificate_key(der, info, source, purpose)
    try:
        public_key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, NotImplementedError):
        raise TrustLoadError(f"{source}: unparseable public key") from None
    return key_from_public_key(public_key, source, purpose)


class TrustStore:
    """(purpose, kid) -> trusted keys. Build it once at start; `keys_for` is the hot path."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._by_kid: dict[tuple[str, bytes], list[TrustedKey]] = {}
        # sha256(kind, DER) -> parsed key or the reason it is unusable; pruned by `replace_all` to what
        # the last list used, so a new version re-parses only the certificates it adds.
        self._parsed: dict[bytes, TrustedKey | str] = {}
        self._used: set[bytes] = set()
        self.skipped: list[Skipped] = []  # what the loaded sources held that cannot be used
        self.version = 0
        for key in keys:
            self.add(key)

    def add(self, key: TrustedKey) -> None:
        if key.purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {key.purpose!r}")
        bucket = self._by_kid.setdefault((key.purpose, key.kid), [])
        if all(k.public_key != key.public_key for k in bucket):
            bucket.append(key)

    def parse_entry(self, entry: TrustEntry) -> TrustedKey:
        """The key of one entry (DER parsed once per distinct DER; the retained trust list is re-sent
        on every reconnect, and re-parsing a thousand X.509 certificates each time would be waste).
        Raises TrustLoadError naming the entry if it cannot be used."""
        digest = hashlib.sha256(entry.kind.encode() + b"\0" + entry.der).digest()
        self._used.add(digest)
        parsed = self._parsed.get(digest)
        if parsed is None:
            try:
                parsed = key_from_der(entry.der, entry.kind, entry.source, entry.purpose)
            except TrustLoadError as exc:
                parsed = str(exc).removeprefix(f"{entry.source}: ")
            self._parsed[digest] = parsed
        if isinstance(parsed, str):
            raise TrustLoadError(f"{entry.source}: {parsed}")
        if (parsed.purpose, parsed.source) != (entry.purpose, entry.source) or (
            entry.country and entry.country != parsed.country
        ):
            parsed = replace(
                parsed, purpose=entry.purpose, source=entry.source, country=entry.country or parsed.country
            )
        return parsed

    def add_der(
        self, der: bytes, kind: str = "certificate", source: str = "trust-list", purpose: str | None = None
    ) -> TrustedKey:
        """Add one DER certificate or SubjectPublicKeyInfo (raises TrustLoadError if unusable)."""
        key = self.parse_entry(TrustEntry(kind, der, purpose or default_purpose(kind), "", source))
        self.add(key)
        return key

    def load_entries(self, entries: Iterable[TrustEntry]) -> tuple[list[TrustedKey], list[Skipped]]:
        """Parse entries: the usable keys, and the skipped ones (each named in a warning)."""
        keys: list[TrustedKey] = []
        skipped: list[Skipped] = []
        for entry in entries:
            try:
                keys.append(self.parse_entry(entry))
            except TrustLoadError as exc:
                skipped.append(Skipped(entry.source, str(exc).removeprefix(f"{entry.source}: ")))
        for item in skipped:
            log.warning("trust entry skipped: %s", item)
        return keys, skipped

    def replace_all(self, keys: Iterable[TrustedKey], version: int) -> None:
        """Swap in a complete, verified trust list (keys absent from it are no longer trusted)."""
        if version <= self.version:
            raise ValueError(f"trust list version {version} is not newer than {self.version}")
        self._by_kid = {}
        for key in keys:
            self.add(key)
        self.version = version
        self._parsed = {d: k for d, k in self._parsed.items() if d in self._used}
        self._used = set()

    def all_keys(self) -> list[TrustedKey]:
        return [key for bucket in self._by_kid.values() for key in bucket]

    def keys_for(self, kid: bytes, purpose: str) -> tuple[TrustedKey, ...]:
        """The keys with this kid that may sign `purpose` (`dcc` for HC1, `pass` for our passes)."""
        return tuple(self._by_kid.get((purpose, kid), ()))

    def counts(self) -> dict[str, int]:
        """Keys per purpose and skipped entries: the kiosk's status reports these."""
        out = dict.fromkeys(sorted(PURPOSES), 0)
        for (purpose, _), bucket in self._by_kid.items():
            out[purpose] += len(bucket)
        out["skipped"] = len(self.skipped)
        return out

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kid.values())

    def load_path(self, spec: str | Path, purpose: str | None = None) -> int:
        """Load a source (`[dcc:|pass:]PATH`, a file or a directory; see trustfiles). Returns keys added.
        Unusable entries are skipped (named in a warning, kept in `skipped`); a source with no usable
        key at all raises TrustLoadError."""
        before = len(self)
        read = read_source(spec, purpose)
        keys, skipped = self.load_entries(read.entries)
        for item in read.skipped:
            log.warning("trust entry skipped: %s", item)
        self.skipped += [*read.skipped, *skipped]
        if not keys:  # a wrong path, or only a private key: a kiosk must not start trusting nothing
            raise TrustLoadError(f"{spec}: no usable certificate or public key ({len(skipped)} skipped)")
        for key in keys:
            self.add(key)
        return len(self) - before

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> TrustStore:
        store = cls()
        for path in paths:
            store.load_path(path)
        return store


def load_file(path: Path, purpose: str | None = None) -> list[TrustedKey]:
    """The usable keys of one trust source; TrustLoadError if it holds none."""
    store = TrustStore()
    store.load_path(path, purpose)
    return store.all_keys()
