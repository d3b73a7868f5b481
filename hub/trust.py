"""The issuers' trust list the hub pushes to every kiosk (a signed, versioned, retained `trust` message).

Operators set the complete list (issuer public keys and signer certificates, public material only);
each change is a new version, audited. The running hub publishes the newest version retained on the
trust topic, so a kiosk that connects later gets it at once. A kiosk keeps its provisioned key files
and trusts the hub's list beside them (kiosk/service.py); keys dropped from a newer list stop working.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from hub.db import Database
from hub.documents import current_document, set_document
from kiosk.verify.trust import MAX_TRUST_FILE, TrustLoadError, key_from_der, read_entries
from wire.trustlist import trust_payload

TRUST_DOC = "trust-list"


class TrustListError(ValueError):
    """A file that is not public trust material; the message names it."""


def entries_from_file(path: Path) -> list[tuple[str, bytes]]:
    """(kind, DER) for every certificate or public key in a PEM or DER file; private keys refused.

    Read with the kiosk's own trust-file reader, and each entry parsed as a kiosk will parse it, so an
    operator cannot push a list the kiosks would reject.
    """
    if b"PRIVATE KEY" in path.read_bytes()[: MAX_TRUST_FILE + 1]:
        raise TrustListError(f"{path} holds a private key: a trust list carries public keys only")
    try:
        entries = read_entries(path)
        for kind, der in entries:
            key_from_der(der, kind, str(path))
    except TrustLoadError as exc:
        raise TrustListError(str(exc)) from None
    if not entries:
        raise TrustListError(f"{path}: no certificate or public key found")
    return entries


def entries_from_paths(paths: list[Path]) -> list[tuple[str, bytes]]:
    """Every file given, or every regular file of a directory given; duplicates dropped, order kept."""
    seen: dict[bytes, tuple[str, bytes]] = {}
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            for kind, der in entries_from_file(file):
                seen.setdefault(der, (kind, der))
    return list(seen.values())


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:16]


def set_trust_list(db: Database, entries: list[tuple[str, bytes]], *, actor: str, now: dt.datetime) -> int:
    """Replace the trust list; returns its new version (the running hub publishes it within a second)."""
    detail = {"keys": [fingerprint(d) for _, d in entries]}
    return set_document(
        db, TRUST_DOC, trust_payload(entries), actor=actor, now=now, action="trust.set", detail=detail
    )


def current_trust_list(db: Database) -> tuple[int, dict[str, Any]] | None:
    return current_document(db, TRUST_DOC)
