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

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub import audit
from hub.db import Database, to_db_time
from hub.schema import hub_documents
from wire.trustlist import trust_payload

TRUST_DOC = "trust-list"
MAX_FILE = 1 << 20


class TrustListError(ValueError):
    """A file that is not public trust material; the message names it."""


def _pem_blocks(data: bytes) -> list[bytes]:
    blocks, rest = [], data
    while (start := rest.find(b"-----BEGIN ")) != -1:
        end = rest.find(b"-----END ", start)
        stop = rest.find(b"-----", end + 9)
        if end == -1 or stop == -1:
            break
        blocks.append(rest[start : stop + 5])
        rest = rest[stop + 5 :]
    return blocks


def _entry(block: bytes) -> tuple[str, bytes]:
    """One PEM block, or a whole DER file: a certificate or a SubjectPublicKeyInfo, as DER."""
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if b"-----BEGIN CERTIFICATE" in block:
        return "certificate", x509.load_pem_x509_certificate(block).public_bytes(der)
    if b"-----BEGIN PUBLIC KEY" in block:
        return "public_key", serialization.load_pem_public_key(block).public_bytes(der, spki)
    if b"-----BEGIN" in block:
        raise ValueError("unexpected PEM block")
    try:
        return "certificate", x509.load_der_x509_certificate(block).public_bytes(der)
    except ValueError:
        return "public_key", serialization.load_der_public_key(block).public_bytes(der, spki)


def entries_from_file(path: Path) -> list[tuple[str, bytes]]:
    """(kind, DER) for every certificate or public key in a PEM or DER file; private keys refused."""
    data = path.read_bytes()[: MAX_FILE + 1]
    if len(data) > MAX_FILE:
        raise TrustListError(f"{path}: larger than {MAX_FILE} bytes")
    if b"PRIVATE KEY" in data:
        raise TrustListError(f"{path} holds a private key: a trust list carries public keys only")
    out: list[tuple[str, bytes]] = []
    blocks = _pem_blocks(data) if b"-----BEGIN" in data else [data]
    for block in blocks:
        try:
            out.append(_entry(block))
        except ValueError as exc:
            raise TrustListError(f"{path}: not a certificate or public key ({exc})") from None
    if not out:
        raise TrustListError(f"{path}: no certificate or public key found")
    return out


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
    body = trust_payload(entries)
    with db.begin() as conn:
        db.lock_in_transaction(conn, "hub.trust")
        current = conn.execute(
            sa.select(hub_documents.c.version).where(hub_documents.c.name == TRUST_DOC)
        ).scalar()
        version = int(current or 0) + 1
        values = {"version": version, "body": body, "updated_at": to_db_time(now)}
        if current is None:
            conn.execute(sa.insert(hub_documents).values(name=TRUST_DOC, **values))
        else:
            conn.execute(sa.update(hub_documents).where(hub_documents.c.name == TRUST_DOC).values(**values))
        audit.record(
            conn, now, actor, "trust.set", {"version": version, "keys": [fingerprint(d) for _, d in entries]}
        )
    return version


def current_trust_list(db: Database) -> tuple[int, dict[str, Any]] | None:
    with db.begin() as conn:
        row = conn.execute(
            sa.select(hub_documents.c.version, hub_documents.c.body).where(hub_documents.c.name == TRUST_DOC)
        ).first()
    return None if row is None else (int(row.version), dict(row.body))
