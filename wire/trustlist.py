"""The payload of a signed `trust` message: the keys kiosks may accept and what for, defined once.

    {"keys": [{"kind": "certificate" | "public_key", "der": "<base64 DER>",
               "purpose": "dcc" | "pass", "country": "FI"}, ...],
     "skipped": [{"source": "eu-dsc.json #17 kid=...", "reason": "..."}, ...]}

`purpose` binds a key to one format: `dcc` keys verify `HC1:` certificates only (EU DSCs), `pass` keys
verify `VNP1:` checkpoint passes only (this deployment's issuers). A list without `purpose` (older hubs)
means `dcc` for a certificate and `pass` for a bare public key. `country` is informative (listings).
`skipped` names what the operator's source held that the hub could not use, so the kiosks' listings
show it too. A complete list: keys absent from a newer list are no longer trusted (besides the ones
provisioned as files on the kiosk). The envelope (wire/envelope.py) signs and versions it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wire.envelope import Signed
from wire.errors import WireError

KINDS = frozenset({"certificate", "public_key"})
PURPOSE_DCC = "dcc"
PURPOSE_PASS = "pass"
PURPOSES = frozenset({PURPOSE_DCC, PURPOSE_PASS})
MAX_KEYS = 10_000
MAX_SKIPPED = 1_000
MAX_TEXT = 200


def default_purpose(kind: str) -> str:
    """A certificate is an EU DSC, a bare public key one of our pass issuers, unless said otherwise."""
    return PURPOSE_DCC if kind == "certificate" else PURPOSE_PASS


@dataclass(frozen=True, slots=True)
class TrustEntry:
    """One key of a trust source, as read (not yet parsed): the hub sends these, kiosks parse them."""

    kind: str
    der: bytes
    purpose: str
    country: str = ""
    source: str = ""  # where it came from, for warnings and listings (not sent)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of a trust source that cannot be used, and why (never a reason to refuse the rest)."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


def trust_payload(entries: Sequence[TrustEntry], skipped: Sequence[Skipped] = ()) -> dict[str, Any]:
    keys = []
    for e in entries:
        item = {"kind": e.kind, "der": base64.b64encode(e.der).decode("ascii"), "purpose": e.purpose}
        if e.country:
            item["country"] = e.country
        keys.append(item)
    body: dict[str, Any] = {"keys": keys}
    if skipped:
        body["skipped"] = [
            {"source": s.source[:MAX_TEXT], "reason": s.reason[:MAX_TEXT]} for s in skipped[:MAX_SKIPPED]
        ]
    return body


def decode_trust(update: Signed) -> tuple[list[TrustEntry], list[Skipped]]:
    """The entries of a verified trust list, and the skipped ones (the hub's, plus any malformed item:
    one bad item never refuses the rest)."""
    if update.type != "trust":
        raise WireError(f"expected trust, got {update.type}")
    keys = update.payload.get("keys")
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise WireError("trust: keys must be a list")
    out: list[TrustEntry] = []
    skipped: list[Skipped] = []
    for n, item in enumerate(keys):
        where = f"hub trust list #{n}"
        if (
            not isinstance(item, dict)
            or item.get("kind") not in KINDS
            or not isinstance(item.get("der"), str)
            or item.get("purpose", PURPOSE_DCC) not in PURPOSES
            or not isinstance(item.get("country", ""), str)
        ):
            skipped.append(Skipped(where, 'not {"kind", "der", "purpose"}'))
            continue
        try:
            der = base64.b64decode(item["der"], validate=True)
        except (binascii.Error, ValueError):
            skipped.append(Skipped(where, "der is not base64"))
            continue
        purpose = item.get("purpose") or default_purpose(item["kind"])
        country = item.get("country", "")[:8]
        out.append(TrustEntry(item["kind"], der, purpose, country, f"{where} {country}".rstrip()))
    hub_skipped = update.payload.get("skipped", [])
    if isinstance(hub_skipped, list):
        for item in hub_skipped[:MAX_SKIPPED]:
            if isinstance(item, dict):
                source, reason = (
                    str(item.get("source", ""))[:MAX_TEXT],
                    str(item.get("reason", ""))[:MAX_TEXT],
                )
                skipped.append(Skipped(f"hub: {source}", reason))
    return out, skipped
