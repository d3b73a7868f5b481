"""The hub's record of provisioned kiosks: who they are, where they connect, their certificates.

One SQLite file in the provisioning directory (`provision.db`), shared with the enrollment tokens
(provisioning/enrollment.py). A kiosk is `pending` from `provision kiosk enroll` until its CSR is
signed, then `active`, and `decommissioned` once its certificates are revoked. The broker's ACL
and the decommissioning of a kiosk are generated from these records, never typed by hand.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from provisioning.broker import BrokerSettings
from wire import topics

DB_FILE = "provision.db"
PENDING, ACTIVE, DECOMMISSIONED = "pending", "active", "decommissioned"
HUB_PREFIX = "hub-"


def hub_name_clash(kiosk_id: str, hub_users: tuple[str, ...] = ()) -> bool:
    """A kiosk must never be named like a hub connection: its certificate would carry the hub's rights."""
    return kiosk_id == "hub" or kiosk_id.startswith(HUB_PREFIX) or kiosk_id in hub_users


def check_kiosk_id(kiosk_id: str, hub_users: tuple[str, ...] = ()) -> str | None:
    """Why `kiosk_id` cannot be a kiosk id, or None when it can."""
    if not topics.KIOSK_ID.fullmatch(kiosk_id):
        return (
            f"invalid kiosk id {kiosk_id!r}: 1-63 lower-case letters, digits and '-', not starting with '-'"
        )
    if hub_name_clash(kiosk_id, hub_users):
        return f"kiosk id {kiosk_id!r} is reserved for hub connections ('hub', 'hub-...')"
    return None


@dataclass(frozen=True)
class KioskRecord:
    kiosk_id: str
    checkpoint_id: str
    name: str
    location: str
    mode: str
    broker_host: str
    broker_port: int
    status: str = PENDING
    enrolled_at: str | None = None
    activated_at: str | None = None
    decommissioned_at: str | None = None


@dataclass(frozen=True)
class BrokerRecord:
    """How `provision broker config` last wrote the broker's files (decommissioning rewrites them)."""

    directory: Path
    settings: BrokerSettings
    owner: str | None = None

    def to_json(self) -> str:
        s = asdict(self.settings)
        return json.dumps({"directory": str(self.directory), "settings": s, "owner": self.owner})

    @classmethod
    def from_json(cls, text: str) -> BrokerRecord:
        data = json.loads(text)
        s = data["settings"]
        settings = BrokerSettings(
            **{**s, "hostnames": tuple(s["hostnames"]), "hub_users": tuple(s["hub_users"])}
        )
        return cls(Path(data["directory"]), settings, data.get("owner"))


class KioskRegistry:
    def __init__(self, path: str | Path) -> None:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.table("kiosks").create(
            {
                "kiosk_id": str,
                "checkpoint_id": str,
                "name": str,
                "location": str,
                "mode": str,
                "broker_host": str,
                "broker_port": int,
                "status": str,
                "enrolled_at": str,
                "activated_at": str,
                "decommissioned_at": str,
            },
            pk="kiosk_id",
            if_not_exists=True,
        )
        self.db.table("certificates").create(
            {
                "serial": str,
                "kiosk_id": str,
                "not_before": str,
                "not_after": str,
                "pem": str,
                "revoked_at": str,
            },
            pk="serial",
            if_not_exists=True,
        )
        self.db.table("settings").create({"key": str, "value": str}, pk="key", if_not_exists=True)

    # -- kiosks -----------------------------------------------------------------------------------

    def get(self, kiosk_id: str) -> KioskRecord | None:
        rows = list(self.db.table("kiosks").rows_where("kiosk_id = ?", [kiosk_id]))
        return KioskRecord(**rows[0]) if rows else None

    def all(self) -> list[KioskRecord]:
        return [KioskRecord(**row) for row in self.db.table("kiosks").rows_where(order_by="kiosk_id")]

    def enroll(self, record: KioskRecord) -> None:
        """Insert or replace the kiosk's record as pending (re-enrollment keeps its certificates)."""
        self.db.table("kiosks").upsert(asdict(record), pk="kiosk_id")

    def ids(self, *statuses: str) -> list[str]:
        marks = ",".join("?" for _ in statuses)
        rows = self.db.execute(
            f"SELECT kiosk_id FROM kiosks WHERE status IN ({marks}) ORDER BY kiosk_id", list(statuses)
        ).fetchall()
        return [row[0] for row in rows]

    def set_status(self, kiosk_id: str, status: str, now: datetime) -> None:
        column = {ACTIVE: "activated_at", DECOMMISSIONED: "decommissioned_at"}.get(status)
        changes: dict[str, Any] = {"status": status}
        if column:
            changes[column] = now.isoformat()
        self.db.table("kiosks").update(kiosk_id, changes)

    # -- certificates -----------------------------------------------------------------------------

    def add_certificate(self, kiosk_id: str, cert: x509.Certificate) -> None:
        self.db.table("certificates").insert(
            {
                "serial": f"{cert.serial_number:x}",
                "kiosk_id": kiosk_id,
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                "revoked_at": None,
            }
        )

    def certificates(self, kiosk_id: str, include_revoked: bool = False) -> list[x509.Certificate]:
        where = "kiosk_id = ?" + ("" if include_revoked else " AND revoked_at IS NULL")
        rows = self.db.table("certificates").rows_where(where, [kiosk_id], order_by="not_before")
        return [x509.load_pem_x509_certificate(row["pem"].encode("ascii")) for row in rows]

    def mark_revoked(self, certs: list[x509.Certificate], now: datetime) -> None:
        for cert in certs:
            self.db.table("certificates").update(f"{cert.serial_number:x}", {"revoked_at": now.isoformat()})

    def latest_expiry(self, kiosk_id: str) -> str | None:
        row = self.db.execute(
            "SELECT max(not_after) FROM certificates WHERE kiosk_id = ? AND revoked_at IS NULL", [kiosk_id]
        ).fetchone()
        return row[0] if row else None

    # -- broker settings --------------------------------------------------------------------------

    def broker(self) -> BrokerRecord | None:
        rows = list(self.db.table("settings").rows_where("key = ?", ["broker"]))
        return BrokerRecord.from_json(rows[0]["value"]) if rows else None

    def set_broker(self, record: BrokerRecord) -> None:
        self.db.table("settings").upsert({"key": "broker", "value": record.to_json()}, pk="key")

    def hub_users(self) -> tuple[str, ...]:
        """Every name the hub connects as: the broker's hub users and the identities `hub certs` issued."""
        broker = self.broker()
        return tuple(dict.fromkeys((*(broker.settings.hub_users if broker else ()), *self.hub_identities())))

    def set_hub_identities(self, names: list[str]) -> None:
        """The hub connections `provision hub certs` issued certificates for (broker config uses them)."""
        self.db.table("settings").upsert({"key": "hub_identities", "value": json.dumps(names)}, pk="key")

    def hub_identities(self) -> tuple[str, ...]:
        rows = list(self.db.table("settings").rows_where("key = ?", ["hub_identities"]))
        return tuple(json.loads(rows[0]["value"])) if rows else ()
