"""The hub's first start on a new machine (`hub init`): its keys and its database schema, idempotent.

Existing keys are never replaced: kiosks trust the signing key, so replacing it is a key rotation
(hub/key_rotation.py: announced under the current key), not an init. Run again, it only reports.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private, write_private_key
from hub.config import HubConfig
from hub.db import open_database
from hub.flag_publisher import load_signing_key, write_public_key
from hub.schema import migrate


@dataclass(frozen=True)
class Initialised:
    signing_key: Path
    signing_key_created: bool
    public_key: Path  # what kiosk configs name as the hub's key
    id_hash_key_created: Path | None  # the id-hash key file, when this run created it
    database: str  # the database URL without its credentials
    migrations: list[int]  # schema versions this run applied


def initialise(config: HubConfig, now: dt.datetime) -> Initialised:
    """Create the signing key and the id-hash key where missing (mode 0600), write the signing key's
    public half, and bring the database schema up."""
    created = not config.signing_key.exists()
    if created:
        key = Ed25519PrivateKey.generate()
        write_private_key(config.signing_key, key)
    else:
        key = load_signing_key(config.signing_key)
    public = write_public_key(config.signing_key, key)
    id_hash_key = None
    if config.flag_key_file is not None and not config.flag_key_file.exists():
        write_private(config.flag_key_file, secrets.token_hex(32).encode() + b"\n")
        id_hash_key = config.flag_key_file
    db = open_database(config.database_url)
    try:
        applied = migrate(db, now)
    finally:
        db.dispose()
    return Initialised(
        config.signing_key, created, public, id_hash_key, config.database_url.split("@")[-1], applied
    )
