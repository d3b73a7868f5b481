"""Trust sources as people have them, read into `TrustEntry`s (kind, DER, purpose) and `Skipped`s.

The one reader of trust material: the kiosk (config `verify.trust`, `kiosk verify --trust`,
`kiosk trust`) and the hub (`hub trust set`) both use it, so an operator cannot push what kiosks
would read differently.

A source is a path, optionally prefixed with its purpose: `dcc:PATH` (EU DSCs, verify `HC1:`) or
`pass:PATH` (our pass issuers, verify `VNP1:`). Without a prefix, a certificate is `dcc` and a bare
public key is `pass`. A directory holds files of any of these formats; its subdirectories named
`dcc/` and `pass/` are read with that purpose (one level, so `trust/dcc/` can hold a national list
and `trust/pass/` our issuers' keys). Formats:

- PEM with any number of certificate and public-key blocks (private-key blocks are skipped: a kiosk
  needs none, and the hub refuses files holding one); a DER certificate or SubjectPublicKeyInfo.
- The JSON DSC list of the EU gateway and national backends: `{"certificates": [{"kid": b64,
  "country": "FI", "rawData": b64 DER, "certificateType": "DSC", ...}]}`, a bare JSON array of the
  same objects, or either after a first line holding the publisher's detached signature (as some
  national backends serve it; that signature is the operator's to check before importing).
  Always `dcc` unless prefixed `pass:`.

One unusable entry (bad base64, not a certificate, unsupported key, not a DSC) is skipped and named;
it never refuses the rest. A source that yields no usable key at all is an error (a wrong path).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wire.trustlist import PURPOSES, Skipped, TrustEntry, default_purpose

MAX_TRUST_FILE = 16 * 1024 * 1024  # a national DSC list is about 4 MB of JSON; room to grow
PURPOSE_DIRS = PURPOSES  # subdirectory names that set the purpose of what they hold


class TrustLoadError(ValueError):
    """A trust source that cannot be used at all (names the path)."""


@dataclass
class TrustRead:
    """What a source held: usable-looking entries (not yet parsed as keys) and skipped ones."""

    entries: list[TrustEntry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    private_keys: list[Path] = field(default_factory=list)  # files holding a private-key block

    def extend(self, other: TrustRead) -> None:
        self.entries += other.entries
        self.skipped += other.skipped
        self.private_keys += other.private_keys


def parse_spec(spec: str | Path) -> tuple[Path, str | None]:
    """`dcc:PATH` / `pass:PATH` / `PATH` -> (path, purpose or None for "by kind")."""
    text = str(spec)
    head, sep, rest = text.partition(":")
    if sep and head in PURPOSES and rest:
        return Path(rest), head
    return Path(text), None


def read_source(spec: str | Path, purpose: str | None = None) -> TrustRead:
    """Every entry of a file or directory (see the module docstring). Raises TrustLoadError if the
    path is missing or nothing usable is in it."""
    path, prefixed = parse_spec(spec)
    purpose = prefixed or purpose
    if not path.exists():
        raise TrustLoadError(f"{path}: no such file or directory")
    read = TrustRead()
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() and child.name in PURPOSE_DIRS and purpose is None:
                read.extend(_read_dir_files(child, child.name))
        read.extend(_read_dir_files(path, purpose))
    else:
        read.extend(read_file(path, purpose))
    if not read.entries and not read.private_keys:
        reasons = "; ".join(str(s) for s in read.skipped[:3])
        raise TrustLoadError(
            f"{path}: no certificate or public key found" + (f" ({reasons})" if reasons else "")
        )
    return read


def _read_dir_files(directory: Path, purpose: str | None) -> TrustRead:
    read = TrustRead()
    for file in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            read.extend(read_file(file, purpose))
        except (TrustLoadError, OSError) as exc:  # one bad file in a directory never refuses the rest
            read.skipped.append(Skipped(str(file), str(exc).removeprefix(f"{file}: ")))
    return read


def read_file(path: Path, purpose: str | None = None) -> TrustRead:
    """One file: a JSON DSC list, PEM blocks or one DER object. Raises TrustLoadError if it is none."""
    with path.open("rb") as handle:
        data = handle.read(MAX_TRUST_FILE + 1)
    if len(data) > MAX_TRUST_FILE:
        raise TrustLoadError(f"{path}: larger than {MAX_TRUST_FILE} bytes")
    document = _json_document(data)
    if document is not None:
        return read_dsc_list(document, str(path), purpose or "dcc")
    if b"-----BEGIN" in data:
        return _read_pem(data, path, purpose)
    for kind, parse in (
        ("certificate", x509.load_der_x509_certificate),
        ("public_key", serialization.load_der_public_key),
    ):
        try:
            parse(data)
        except (ValueError, TypeError):
            continue
        return TrustRead([TrustEntry(kind, data, purpose or default_purpose(kind), "", str(path))])
    if _looks_like_der_certificate(data):  # cryptography refuses it; the tolerant reader may not
        return TrustRead([TrustEntry("certificate", data, purpose or "dcc", "", str(path))])
    raise TrustLoadError(f"{path}: neither PEM, DER nor a JSON DSC list")


def _json_document(data: bytes) -> object | None:
    """The parsed JSON of a DSC list (optionally after a signature line), or None if it is not JSON."""
    text = data.lstrip()
    if not text.startswith((b"{", b"[")):
        first, newline, rest = text.partition(b"\n")
        if not newline or b"-----BEGIN" in first or not rest.lstrip().startswith((b"{", b"[")):
            return None
        text = rest
    try:
        parsed: object = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed


def read_dsc_list(document: object, name: str, purpose: str = "dcc") -> TrustRead:
    """The EU gateway / national backend DSC list (see the module docstring), entry by entry."""
    items = document.get("certificates") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise TrustLoadError(f'{name}: JSON, but not a DSC list (no "certificates" array)')
    read = TrustRead()
    for n, item in enumerate(items):
        where = f"{name} #{n}"
        if not isinstance(item, dict):
            read.skipped.append(Skipped(where, "not an object"))
            continue
        country = item.get("country")
        country = country if isinstance(country, str) else ""
        kid = item.get("kid")
        kid = kid if isinstance(kid, str) else ""
        where = " ".join(x for x in (where, country, f"kid={kid}" if kid else "") if x)
        cert_type = item.get("certificateType", "DSC")
        if cert_type != "DSC":
            read.skipped.append(Skipped(where, f"certificateType {cert_type!r} is not a DSC"))
            continue
        raw = item.get("rawData")
        if not isinstance(raw, str):
            read.skipped.append(Skipped(where, "no rawData"))
            continue
        try:
            der = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            read.skipped.append(Skipped(where, "rawData is not base64"))
            continue
        read.entries.append(TrustEntry("certificate", der, purpose, country[:8], where))
    return read


def _read_pem(data: bytes, path: Path, purpose: str | None) -> TrustRead:
    read = TrustRead()
    for n, block in enumerate(_pem_blocks(data)):
        lines = block.splitlines()
        label = lines[0].decode("ascii", errors="replace").strip("- ").removeprefix("BEGIN ")
        if "PRIVATE KEY" in label:
            read.private_keys.append(path)
            continue  # skipped on purpose: the kiosk needs no private key (the hub refuses the file)
        kind = "certificate" if "CERTIFICATE" in label else "public_key" if "PUBLIC KEY" in label else None
        if kind is None:
            continue  # parameters, CRLs and other blocks are not trust material
        try:
            der = base64.b64decode(b"".join(lines[1:-1]), validate=True)
        except binascii.Error:
            read.skipped.append(Skipped(f"{path} block {n + 1}", f"bad PEM block {label}"))
            continue
        read.entries.append(
            TrustEntry(kind, der, purpose or default_purpose(kind), "", f"{path} block {n + 1}")
        )
    return read


def _looks_like_der_certificate(data: bytes) -> bool:
    try:
        asn1_x509.Certificate.load(data, strict=True)["tbs_certificate"]["subject_public_key_info"]
    except (ValueError, TypeError, KeyError):
        return False
    return True


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
