"""One-time enrollment tokens: how a new kiosk proves it is the one the operator just set up.

The operator issues a token for a kiosk id; the installer types or scans it on the kiosk; the kiosk
sends it with its CSR. A token works once, only before it expires, and only for its kiosk id. Only
a hash of the token is stored, so a copy of the hub's database does not enroll anything.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils
from cryptography import x509

from provisioning.ca import CertificateAuthority


class EnrollmentRefused(PermissionError):
    """The token is unknown, used, expired, or for another kiosk."""


@dataclass(frozen=True)
class Enrollment:
    kiosk_id: str
    certificate: x509.Certificate


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EnrollmentBook:
    """Tokens and the kiosks they enrolled, in the hub's provisioning database (SQLite)."""

    def __init__(self, path: str | Path) -> None:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.table("enrollment_tokens").create(
            {"token_hash": str, "kiosk_id": str, "expires_at": str, "used_at": str},
            pk="token_hash",
            if_not_exists=True,
        )

    def issue(self, kiosk_id: str, now: datetime, ttl: timedelta = timedelta(hours=24)) -> str:
        token = secrets.token_urlsafe(24)
        self.db.table("enrollment_tokens").insert(
            {
                "token_hash": _digest(token),
                "kiosk_id": kiosk_id,
                "expires_at": (now + ttl).isoformat(),
                "used_at": None,
            }
        )
        return token

    def kiosk_for(self, token: str) -> str | None:
        """The kiosk id a token was issued for (used, expired or not), or None for an unknown token."""
        rows = list(self.db.table("enrollment_tokens").rows_where("token_hash = ?", [_digest(token)]))
        return rows[0]["kiosk_id"] if rows else None

    def cancel(self, kiosk_id: str, now: datetime) -> int:
        """Spend every unused token of a kiosk (a new token replaces them, decommissioning ends them)."""
        cursor = self.db.execute(
            "UPDATE enrollment_tokens SET used_at = ? WHERE kiosk_id = ? AND used_at IS NULL",
            [now.isoformat(), kiosk_id],
        )
        return cursor.rowcount

    def redeem(
        self,
        token: str,
        kiosk_id: str,
        csr_pem: bytes,
        ca: CertificateAuthority,
        now: datetime,
        days: int = 365,
    ) -> Enrollment:
        """Check the CSR, then spend the token atomically: two racing kiosks cannot both succeed,
        and a malformed CSR does not burn the installer's token."""
        certificate = ca.sign_client_csr(csr_pem, expected_name=kiosk_id, days=days)
        cursor = self.db.execute(
            "UPDATE enrollment_tokens SET used_at = ? "
            "WHERE token_hash = ? AND kiosk_id = ? AND used_at IS NULL AND expires_at > ?",
            [now.isoformat(), _digest(token), kiosk_id, now.isoformat()],
        )
        if cursor.rowcount != 1:
            raise EnrollmentRefused(self._why(token, kiosk_id, now))
        return Enrollment(kiosk_id, certificate)

    def _why(self, token: str, kiosk_id: str, now: datetime) -> str:
        rows = list(self.db.table("enrollment_tokens").rows_where("token_hash = ?", [_digest(token)]))
        if not rows:
            return "unknown enrollment token"
        row = rows[0]
        if row["kiosk_id"] != kiosk_id:
            return "enrollment token was issued for another kiosk"
        if row["used_at"] is not None:
            return "enrollment token was already used"
        if row["expires_at"] <= now.isoformat():
            return "enrollment token expired"
        return "enrollment token refused"
