"""Signed hub-to-kiosk envelopes: only the hub's key, the right type and the exact bytes pass."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wire.envelope import key_id, open_envelope, seal
from wire.errors import WireError

NOW = datetime(2026, 11, 22, tzinfo=UTC)
HUB = Ed25519PrivateKey.generate()
TRUSTED = {key_id(HUB.public_key()): HUB.public_key()}


def test_sealed_message_opens_with_its_fields() -> None:
    data = seal(HUB, "flags.delta", 7, {"added": [], "lifted": []}, NOW)
    signed = open_envelope(data, TRUSTED, "flags.delta")
    assert (signed.type, signed.version, signed.payload) == ("flags.delta", 7, {"added": [], "lifted": []})


def test_other_key_is_refused() -> None:
    mallory = Ed25519PrivateKey.generate()
    with pytest.raises(WireError, match="unknown key"):
        open_envelope(seal(mallory, "flags.delta", 8, {}, NOW), TRUSTED)


def test_other_key_claiming_the_hubs_kid_is_forged() -> None:
    mallory = Ed25519PrivateKey.generate()
    envelope = json.loads(seal(mallory, "flags.delta", 8, {}, NOW))
    envelope["kid"] = key_id(HUB.public_key())
    with pytest.raises(WireError, match="bad signature"):
        open_envelope(json.dumps(envelope).encode(), TRUSTED)


def test_altered_body_is_forged() -> None:
    envelope = json.loads(seal(HUB, "flags.delta", 8, {"lifted": ["x"]}, NOW))
    body = json.loads(base64.urlsafe_b64decode(envelope["body"] + "=="))
    body["payload"]["lifted"] = ["someone-else"]
    envelope["body"] = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    with pytest.raises(WireError, match="bad signature"):
        open_envelope(json.dumps(envelope).encode(), TRUSTED)


def test_a_trust_list_cannot_be_replayed_as_a_flag_delta() -> None:
    with pytest.raises(WireError, match=r"expected a flags\.delta"):
        open_envelope(seal(HUB, "trust", 3, {}, NOW), TRUSTED, "flags.delta")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{}",
        b'{"added": []}',
        b"\xff",
        b'{"kid": 1, "body": 2, "sig": 3}',
        b'{"kid":"x","body":"!","sig":"!"}',
    ],
)
def test_unsigned_or_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(WireError):
        open_envelope(data, TRUSTED)
