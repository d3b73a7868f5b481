"""Rotating the hub's signing key without ever leaving a kiosk unable to trust the hub.

1. `hub key rotate`: a next key is made (mode 0600) beside the current one and a `key.rotate` message
   announcing its public half is signed with the CURRENT key and saved beside them. The running hub
   publishes it on the trust topic, and again to any kiosk whose status does not yet list the next key
   (kiosks that were away).
2. `hub key status`: which kiosks trust the next key (their status lists the key ids they trust).
3. `hub key commit`: once every kiosk does (or with --force), the next key becomes the signing key (the
   old one is kept as `*.old.pem` for the record) and the hub is restarted. The kiosks' first message
   signed by the new key retires the old one on each kiosk.

The rotation counter lives in the hub database, so each announcement's version is newer than the last.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private_key
from hub.db import Database
from hub.flag_publisher import load_signing_key, write_public_key
from hub.fleet import fleet_view
from hub.schema import hub_state
from wire.envelope import key_id, public_pem, seal

ROTATION_COUNTER = "hub_key_rotation_version"


def next_key_path(signing_key: Path) -> Path:
    return signing_key.with_name(f"{signing_key.stem}.next.pem")


def announcement_path(signing_key: Path) -> Path:
    return signing_key.with_name(f"{signing_key.stem}.rotation.json")


@dataclass(frozen=True)
class Announcement:
    version: int
    next_kid: str
    envelope: bytes


def load_announcement(signing_key: Path) -> Announcement | None:
    path = announcement_path(signing_key)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Announcement(int(data["version"]), str(data["next_kid"]), data["envelope"].encode())


def _next_version(db: Database) -> int:
    with db.begin() as conn:
        current = conn.execute(
            sa.select(hub_state.c.value).where(hub_state.c.name == ROTATION_COUNTER)
        ).scalar()
        version = int(current or 0) + 1
        if current is None:
            conn.execute(sa.insert(hub_state).values(name=ROTATION_COUNTER, value=version))
        else:
            conn.execute(
                sa.update(hub_state).where(hub_state.c.name == ROTATION_COUNTER).values(value=version)
            )
    return version


def prepare_rotation(db: Database, signing_key: Path, now: dt.datetime) -> Announcement:
    """Make the next key (kept if it exists) and the announcement signed by the current key."""
    current = load_signing_key(signing_key)
    next_path = next_key_path(signing_key)
    if next_path.exists():
        nxt = load_signing_key(next_path)
    else:
        nxt = Ed25519PrivateKey.generate()
        write_private_key(next_path, nxt)
    pem = public_pem(nxt.public_key())
    version = _next_version(db)
    envelope = seal(current, "key.rotate", version, {"next_public_key": pem.decode()}, now)
    announcement = Announcement(version, key_id(nxt.public_key()), envelope)
    announcement_path(signing_key).write_text(
        json.dumps({"version": version, "next_kid": announcement.next_kid, "envelope": envelope.decode()})
    )
    return announcement


def kiosks_without(fleet: list[dict[str, Any]], kid: str) -> list[str]:
    """Kiosks whose last status does not list `kid` among the hub keys they trust."""
    return [str(k["kiosk_id"]) for k in fleet if not _lists(k.get("hub_keys"), kid)]


def _lists(hub_keys: object, kid: str) -> bool:
    return isinstance(hub_keys, list) and kid in hub_keys


@dataclass(frozen=True)
class KioskTrust:
    kiosk_id: str
    state: str
    trusts_next_key: bool


@dataclass(frozen=True)
class RotationProgress:
    """An announced rotation and, per kiosk of the fleet, whether its last status lists the next key."""

    announcement: Announcement
    kiosks: list[KioskTrust]

    @property
    def missing(self) -> list[str]:
        return [k.kiosk_id for k in self.kiosks if not k.trusts_next_key]


class RotationNotStarted(LookupError):
    """No announcement beside the signing key: `hub key rotate` first."""


class KiosksNotReady(RuntimeError):
    """Some kiosks do not trust the next key yet: switching now would make them reject every update."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"{len(missing)} kiosk(s) do not trust the next key yet ({', '.join(missing[:10])}); "
            "they would reject every flag update. Wait, or --force (they then need re-provisioning)."
        )


def rotation_progress(
    db: Database, signing_key: Path, *, now: dt.datetime, stale_after_s: float
) -> RotationProgress | None:
    """Where the announced rotation stands (None: no rotation in progress): what `hub key status` shows."""
    announcement = load_announcement(signing_key)
    if announcement is None:
        return None
    fleet = fleet_view(db, now=now, stale_after_s=stale_after_s)
    missing = set(kiosks_without(fleet, announcement.next_kid))
    kiosks = [KioskTrust(str(k["kiosk_id"]), str(k["state"]), k["kiosk_id"] not in missing) for k in fleet]
    return RotationProgress(announcement, kiosks)


def commit_when_ready(
    db: Database, signing_key: Path, *, now: dt.datetime, stale_after_s: float, force: bool = False
) -> str:
    """`hub key commit`: switch to the next key once every kiosk trusts it (or with `force`).

    Raises RotationNotStarted without an announcement and KiosksNotReady (naming them) when kiosks
    would be left behind; returns the new signing key's id. The hub must then be restarted.
    """
    progress = rotation_progress(db, signing_key, now=now, stale_after_s=stale_after_s)
    if progress is None:
        raise RotationNotStarted("no key rotation in progress (run `hub key rotate` first)")
    if progress.missing and not force:
        raise KiosksNotReady(progress.missing)
    return commit_rotation(signing_key)


def commit_rotation(signing_key: Path) -> str:
    """The next key becomes the signing key; returns its key id. The hub must be restarted."""
    next_path = next_key_path(signing_key)
    if not next_path.exists():
        raise FileNotFoundError(f"{next_path}: no rotation in progress (run `hub key rotate` first)")
    nxt = load_signing_key(next_path)
    signing_key.replace(signing_key.with_name(f"{signing_key.stem}.old.pem"))
    next_path.replace(signing_key)
    announcement_path(signing_key).unlink(missing_ok=True)
    write_public_key(signing_key, nxt)
    return key_id(nxt.public_key())
