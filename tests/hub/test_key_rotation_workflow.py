"""The workflow behind `hub key status` / `hub key commit` as functions (hub/key_rotation.py), without
click or a broker: the switch waits for every kiosk of the fleet (as their statuses say), names the ones
missing, and `force` skips the wait. tests/hub/test_key_rotation.py runs the whole rotation over MQTT."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub import key_rotation
from hub.db import Database
from hub.fleet import record_status

AT = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def signing_key(path: Path) -> Path:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def test_rotation_progress_and_commit_without_the_cli(db: Database, tmp_path: Path) -> None:
    signing = signing_key(tmp_path / "hub-signing.pem")
    args = {"now": AT, "stale_after_s": 60.0}
    assert key_rotation.rotation_progress(db, signing, **args) is None
    with pytest.raises(key_rotation.RotationNotStarted):
        key_rotation.commit_when_ready(db, signing, **args)

    announced = key_rotation.prepare_rotation(db, signing, AT)
    record_status(db, "kiosk-a", {"state": "online", "hub_keys": ["old", announced.next_kid]}, now=AT)
    record_status(db, "kiosk-b", {"state": "offline", "hub_keys": ["old"]}, now=AT)
    progress = key_rotation.rotation_progress(db, signing, **args)
    assert progress is not None and progress.announcement == announced
    assert [(k.kiosk_id, k.state, k.trusts_next_key) for k in progress.kiosks] == [
        ("kiosk-a", "online", True),
        ("kiosk-b", "offline", False),
    ]
    with pytest.raises(key_rotation.KiosksNotReady, match="1 kiosk") as refused:
        key_rotation.commit_when_ready(db, signing, **args)
    assert refused.value.missing == ["kiosk-b"]
    assert key_rotation.commit_when_ready(db, signing, **args, force=True) == announced.next_kid
    assert key_rotation.rotation_progress(db, signing, **args) is None
