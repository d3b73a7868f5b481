"""The issuers' trust list the hub pushes to every kiosk (a signed, versioned, retained `trust` message).

Operators set the complete list (issuer public keys and signer certificates, public material only),
each key bound to a purpose (`dcc`: EU DSCs for HC1; `pass`: our pass issuers), from files, directories
and the JSON DSC lists of national backends (common/trustfiles.py reads them all); each change
is a new version, audited. The running hub publishes the newest version retained on the trust topic,
so a kiosk that connects later gets it at once. A kiosk keeps its provisioned key files and trusts
the hub's list beside them (kiosk/service.py); keys dropped from a newer list stop working.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.trust import TrustStore
from common.trustfiles import TrustLoadError, parse_spec, read_source
from hub.db import Database
from hub.documents import current_document, current_version, set_document
from wire.envelope import MAX_ENVELOPE_BYTES
from wire.trustlist import MAX_KEYS, Skipped, TrustEntry, trust_payload

TRUST_DOC = "trust-list"


class TrustListError(ValueError):
    """Sources that are not public trust material, or hold no usable key; the message names them."""


@dataclass
class TrustImport:
    """What `hub trust set` will publish: the usable entries, and what was skipped and why."""

    entries: list[TrustEntry]
    skipped: list[Skipped]

    def counts(self) -> dict[str, int]:
        out = {"dcc": 0, "pass": 0}
        for e in self.entries:
            out[e.purpose] += 1
        return out


def entries_from_paths(specs: list[str | Path]) -> TrustImport:
    """Every usable entry of the sources (`[dcc:|pass:]PATH`: files, directories, JSON DSC lists).

    Read with the kiosk's own reader and each entry parsed as a kiosk will parse it, so the list holds
    only what kiosks can use; the rest is skipped and named (one bad entry never refuses the list).
    Duplicates (same purpose and DER) are dropped, order kept. Refused outright: a file holding a
    private key (a trust list is public material), or sources with no usable key at all.
    """
    parser = TrustStore()
    seen: dict[tuple[str, bytes], TrustEntry] = {}
    skipped: list[Skipped] = []
    for spec in specs:
        try:
            read = read_source(spec)
        except (TrustLoadError, OSError) as exc:
            raise TrustListError(str(exc)) from None
        if read.private_keys:
            raise TrustListError(
                f"{read.private_keys[0]} holds a private key: a trust list carries public keys only"
            )
        skipped += read.skipped
        for entry in read.entries:
            try:
                parser.parse_entry(entry)
            except TrustLoadError as exc:
                skipped.append(Skipped(entry.source, str(exc).removeprefix(f"{entry.source}: ")))
                continue
            seen.setdefault((entry.purpose, entry.der), entry)
    if not seen:
        names = ", ".join(str(parse_spec(s)[0]) for s in specs)
        raise TrustListError(f"{names}: no usable certificate or public key ({len(skipped)} skipped)")
    if len(seen) > MAX_KEYS:
        raise TrustListError(f"{len(seen)} keys: a trust list holds at most {MAX_KEYS}")
    imported = TrustImport(list(seen.values()), skipped)
    size = signed_size(trust_payload(imported.entries, imported.skipped))
    if size > MAX_ENVELOPE_BYTES:
        raise TrustListError(
            f"{len(imported.entries)} keys make a signed message of {size} bytes, more than the"
            f" {MAX_ENVELOPE_BYTES} a kiosk accepts: split the sources or drop what kiosks need not trust"
        )
    return imported


def signed_size(payload: dict[str, object]) -> int:
    """About the size of the signed envelope carrying `payload` (base64url of its JSON, plus headers)."""
    body = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    return body * 4 // 3 + 1024


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:16]


def set_trust_list(
    db: Database,
    entries: list[TrustEntry],
    *,
    actor: str,
    now: dt.datetime,
    skipped: list[Skipped] | None = None,
) -> int:
    """Replace the trust list; returns its new version (the running hub publishes it within a second)."""
    listed = TrustImport(entries, skipped or [])
    # A national list holds ~1000 keys: the audit names the list by its digest, not key by key.
    digest = hashlib.sha256(b"".join(sorted(e.purpose.encode() + e.der for e in entries))).hexdigest()
    detail = {"keys": len(entries), **listed.counts(), "skipped": len(listed.skipped), "digest": digest[:16]}
    body = trust_payload(entries, skipped or [])
    return set_document(db, TRUST_DOC, body, actor=actor, now=now, action="trust.set", detail=detail)


def current_trust_version(db: Database) -> int:
    return current_version(db, TRUST_DOC)


def current_trust_list(db: Database) -> tuple[int, dict[str, Any]] | None:
    return current_document(db, TRUST_DOC)
