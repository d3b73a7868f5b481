"""The payload of a signed `trust` message: the issuer keys kiosks may accept, defined once.

    {"keys": [{"kind": "certificate" | "public_key", "der": "<base64 DER>"}, ...]}

A complete list: keys absent from a newer list are no longer trusted (besides the ones provisioned
as files on the kiosk). The envelope (wire/envelope.py) signs and versions it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from wire.envelope import Signed
from wire.errors import WireError

KINDS = frozenset({"certificate", "public_key"})
MAX_KEYS = 10_000


def trust_payload(entries: list[tuple[str, bytes]]) -> dict[str, Any]:
    return {"keys": [{"kind": kind, "der": base64.b64encode(der).decode("ascii")} for kind, der in entries]}


def decode_trust(update: Signed) -> list[tuple[str, bytes]]:
    if update.type != "trust":
        raise WireError(f"expected trust, got {update.type}")
    keys = update.payload.get("keys")
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise WireError("trust: keys must be a list")
    out = []
    for item in keys:
        if (
            not isinstance(item, dict)
            or item.get("kind") not in KINDS
            or not isinstance(item.get("der"), str)
        ):
            raise WireError('trust: each key is {"kind": certificate|public_key, "der": base64}')
        try:
            out.append((item["kind"], base64.b64decode(item["der"], validate=True)))
        except (binascii.Error, ValueError):
            raise WireError("trust: der is not base64") from None
    return out
