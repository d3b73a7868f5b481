"""Signed envelopes for everything the hub pushes down: flag deltas and heads, trust lists, commands.

A kiosk must apply these only if the hub said them: a compromised broker, or anyone who can
publish to it, must not be able to unflag a person or add an issuer key. So every message is:

    {"kid": "<signing key id>", "body": "<base64url of the JSON body>", "sig": "<base64url Ed25519>"}

The signature covers a domain-separation prefix and the exact body bytes; the body names its
`type` (so a signed trust list cannot be replayed as a flag delta) and a `version` that only grows
within a type (so an old message cannot be replayed: the receiver refuses versions it has passed).
Ed25519: small, fast on a Pi, deterministic, no parameters to get wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wire.errors import WireError

DOMAIN = b"checkpoint/v1 signed envelope\n"
MAX_ENVELOPE_BYTES = 8 << 20  # big lists travel as chunks (flags.chunk, doc.chunk), each far below this
# The broker's `max_packet_size`: the largest signed document plus room for the MQTT headers, topic and
# properties, so the hub's own publisher is never cut off while anything larger is refused at the door.
MAX_MQTT_PACKET_BYTES = MAX_ENVELOPE_BYTES + 64 * 1024
TYPES = frozenset(
    {
        "flags.delta",
        "flags.head",
        "flags.chunk",
        "flags.snapshot",  # older hubs; kiosks no longer accept it
        "doc.head",
        "doc.chunk",
        "trust",
        "rules",
        "command",
        "key.rotate",
    }
)


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 8 bytes of SHA-256 of the raw public key, hex: short, stable, collision-safe enough."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signed:
    """A verified envelope's body."""

    type: str
    version: int
    issued_at: str
    payload: dict[str, Any]
    kid: str
    target: str | None = None  # a kiosk id for per-kiosk commands, else None (everyone)


def seal(
    private_key: Ed25519PrivateKey,
    type: str,
    version: int,
    payload: dict[str, Any],
    issued_at: datetime,
    target: str | None = None,
) -> bytes:
    """Sign a message for the kiosks."""
    if type not in TYPES:
        raise ValueError(f"unknown envelope type {type!r}")
    body = json.dumps(
        {
            "type": type,
            "version": version,
            "issued_at": issued_at.isoformat(),
            "target": target,
            "payload": payload,
        },
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    signature = private_key.sign(DOMAIN + body)
    envelope = {"kid": key_id(private_key.public_key()), "body": _b64(body), "sig": _b64(signature)}
    return json.dumps(envelope, separators=(",", ":")).encode()


def open_envelope(
    data: bytes | bytearray, trusted: dict[str, Ed25519PublicKey], expected_type: str | None = None
) -> Signed:
    """Verify and decode, or raise WireError saying why (unsigned, unknown key, forged, wrong type)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise WireError(f"envelope of {len(data)} bytes is too large")
    try:
        envelope = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError("not a signed envelope (not JSON)") from None
    if not isinstance(envelope, dict) or not {"kid", "body", "sig"} <= envelope.keys():
        raise WireError("unsigned message: no kid/body/sig")
    kid, body_b64, sig_b64 = envelope["kid"], envelope["body"], envelope["sig"]
    if not all(isinstance(x, str) for x in (kid, body_b64, sig_b64)):
        raise WireError("malformed envelope fields")
    public_key = trusted.get(kid)
    if public_key is None:
        raise WireError(f"signed by unknown key {kid[:16]!r}")
    try:
        body = _unb64(body_b64)
        signature = _unb64(sig_b64)
    except (ValueError, TypeError):
        raise WireError("envelope is not valid base64url") from None
    try:
        public_key.verify(signature, DOMAIN + body)
    except InvalidSignature:
        raise WireError("bad signature: forged or altered message") from None
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WireError("signed body is not JSON") from None
    if not isinstance(fields, dict):
        raise WireError("signed body is not an object")
    type_, version, payload = fields.get("type"), fields.get("version"), fields.get("payload")
    if type_ not in TYPES:
        raise WireError(f"unknown message type {type_!r}")
    if expected_type is not None and type_ != expected_type:
        raise WireError(f"expected a {expected_type} message, got {type_}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise WireError("version must be a non-negative integer")
    if not isinstance(payload, dict):
        raise WireError("payload must be an object")
    target = fields.get("target")
    if target is not None and not isinstance(target, str):
        raise WireError("target must be a kiosk id or null")
    return Signed(type_, version, str(fields.get("issued_at", "")), payload, kid, target)


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The PEM (SubjectPublicKeyInfo) form kiosks are provisioned with and rotations announce."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the hub signing key must be Ed25519")
    return key
