"""The payloads of signed flag updates (`flags.delta`, `flags.snapshot`, `flags.head`): defined once.

The hub encodes them, the kiosk decodes them; the envelope (wire/envelope.py) signs and versions
them. Persons travel only as keyed hashes of their 12-digit id (wire/idhash.py), never in clear:
a broker, a network tap or a stolen SD card learns no names and no id numbers.

    flags.delta    {"from_version": 41, "added": [ENTRY...], "lifted": ["<hash16>"...],
                    "revoked": [["pass_id", "<hex>"]...], "unrevoked": [[kind, hex]...]}
    flags.snapshot {"persons": [ENTRY...], "revoked": [[kind, hex]...]}
    flags.head     {"count": N, "digest": "<sha256 of the sorted hashes>"}
    ENTRY          {"h": "<hash16>", "s": "F0"|"F1"|"F2"|"REVOKED", "start": epoch_s, "end": epoch_s|null}

The envelope's `version` is the flag-list version the update brings the kiosk to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wire.envelope import Signed
from wire.errors import WireError

STATUSES = ("F0", "F1", "F2", "REVOKED")
REVOCATION_KINDS = frozenset({"pass_id", "pass_signature", "uci", "country_uci", "hc1_signature"})
MAX_ENTRIES = 2_000_000


@dataclass(frozen=True, slots=True)
class FlagEntry:
    id_hash: int
    status: str
    start: int
    end: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"h": f"{self.id_hash:016x}", "s": self.status, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class FlagDelta:
    from_version: int
    to_version: int
    added: list[FlagEntry]
    lifted: list[int]
    revoked: list[tuple[str, bytes]]
    unrevoked: list[tuple[str, bytes]]


@dataclass(frozen=True)
class FlagSnapshot:
    version: int
    persons: list[FlagEntry]
    revoked: list[tuple[str, bytes]]


def _revocations(items: Iterable[tuple[str, bytes]]) -> list[list[str]]:
    return [[kind, value.hex()] for kind, value in items]


def delta_payload(
    from_version: int,
    added: Iterable[FlagEntry] = (),
    lifted: Iterable[int] = (),
    revoked: Iterable[tuple[str, bytes]] = (),
    unrevoked: Iterable[tuple[str, bytes]] = (),
) -> dict[str, Any]:
    return {
        "from_version": from_version,
        "added": [e.to_json() for e in added],
        "lifted": [f"{h:016x}" for h in lifted],
        "revoked": _revocations(revoked),
        "unrevoked": _revocations(unrevoked),
    }


def snapshot_payload(
    persons: Iterable[FlagEntry], revoked: Iterable[tuple[str, bytes]] = ()
) -> dict[str, Any]:
    return {"persons": [e.to_json() for e in persons], "revoked": _revocations(revoked)}


def head_payload(hashes: Iterable[int]) -> dict[str, Any]:
    ordered = sorted(hashes)
    digest = hashlib.sha256(b"".join(h.to_bytes(8, "big") for h in ordered)).hexdigest()
    return {"count": len(ordered), "digest": digest}


# -- decoding (kiosk side) -----------------------------------------------------------------------


def decode_delta(update: Signed) -> FlagDelta:
    if update.type != "flags.delta":
        raise WireError(f"expected flags.delta, got {update.type}")
    p = update.payload
    from_version = p.get("from_version")
    if not isinstance(from_version, int) or isinstance(from_version, bool):
        raise WireError("flags.delta: from_version must be an integer")
    return FlagDelta(
        from_version,
        update.version,
        _entries(p.get("added", [])),
        [_hash(h) for h in _list(p.get("lifted", []), "lifted")],
        _revoked(p.get("revoked", [])),
        _revoked(p.get("unrevoked", [])),
    )


def decode_snapshot(update: Signed) -> FlagSnapshot:
    if update.type != "flags.snapshot":
        raise WireError(f"expected flags.snapshot, got {update.type}")
    return FlagSnapshot(
        update.version,
        _entries(update.payload.get("persons", [])),
        _revoked(update.payload.get("revoked", [])),
    )


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise WireError(f"{name} must be a list of at most {MAX_ENTRIES}")
    return value


def _hash(value: Any) -> int:
    if not isinstance(value, str) or len(value) != 16:
        raise WireError("a person hash is 16 hex digits")
    try:
        return int(value, 16)
    except ValueError:
        raise WireError("a person hash is 16 hex digits") from None


def _epoch(value: Any, name: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError(f"{name} must be epoch seconds")
    return value


def _entries(value: Any) -> list[FlagEntry]:
    out = []
    for item in _list(value, "added/persons"):
        if not isinstance(item, dict) or item.get("s") not in STATUSES:
            raise WireError(f"a flag entry needs h, s in {STATUSES}, start, end")
        start = _epoch(item.get("start"), "start")
        assert start is not None
        out.append(
            FlagEntry(_hash(item.get("h")), item["s"], start, _epoch(item.get("end"), "end", optional=True))
        )
    return out


def _revoked(value: Any) -> list[tuple[str, bytes]]:
    out = []
    for item in _list(value, "revoked"):
        if not (
            isinstance(item, list)
            and len(item) == 2
            and item[0] in REVOCATION_KINDS
            and isinstance(item[1], str)
        ):
            raise WireError(f"a revocation is [kind in {sorted(REVOCATION_KINDS)}, hex]")
        try:
            out.append((item[0], bytes.fromhex(item[1])))
        except ValueError:
            raise WireError("a revocation value is hex") from None
    return out
