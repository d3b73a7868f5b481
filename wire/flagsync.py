"""The payloads of signed flag updates (`flags.delta`, `flags.chunk`, `flags.head`): defined once.

The hub encodes them, the kiosk decodes them; the envelope (wire/envelope.py) signs and versions
them. Persons travel only as keyed hashes of their 12-digit id (wire/idhash.py), never in clear:
a broker, a network tap or a stolen SD card learns no names and no id numbers.

    flags.delta    {"from_version": 41, "added": [ENTRY...], "lifted": ["<hash16>"...],
                    "revoked": [["pass_id", "<hex>"]...], "unrevoked": [[kind, hex]...], "head": HEAD?}
    flags.head     HEAD = {"count": N, "revocations": R, "buckets": ["<sum hex16>" x 256],
                           "digest": "<sha256 over the sums and counts>"}
    flags.chunk    {"bucket": b, "count": n, "revocations": r, "sum": "<hex16>",
                    "h"|"s"|"start"|"end": "<base64 of little-endian u8/u1/i8/i8 arrays>",
                    "revoked": [[kind, hex]...]}
    ENTRY          {"h": "<hash16>", "s": "F0"|"F1"|"F2"|"REVOKED", "start": epoch_s, "end": epoch_s|null}

The envelope's `version` is the flag-list version the update brings the kiosk to: for a delta, the
last version it covers (a large change travels as a chain of deltas, each `from_version` the previous
one's version, none larger than the hub's cap); for a chunk, the version at which the hub's bucket had
that content. A head (retained, and inside every delta) carries per-bucket digests (wire/flagdigest.py)
so a kiosk proves its whole list, not only its version; a chunk is one bucket's full content, verifiable
on its own against its `sum`, so a kiosk repairs only the buckets that differ.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from wire import flagdigest
from wire.envelope import Signed
from wire.errors import WireError

STATUSES = ("F0", "F1", "F2", "REVOKED")
STATUS_CODES = {name: i + 1 for i, name in enumerate(STATUSES)}  # as kiosk.verify.flags.FlagStatus
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


@dataclass(frozen=True)
class FlagHead:
    version: int
    count: int
    revocations: int
    sums: np.ndarray  # uint64[NBUCKETS]
    digest: str


@dataclass(frozen=True)
class FlagChunk:
    version: int
    bucket: int
    hashes: np.ndarray  # uint64, sorted
    status: np.ndarray  # uint8 codes (STATUS_CODES)
    start: np.ndarray  # int64
    end: np.ndarray  # int64, flagdigest.NO_END for none
    revoked: list[tuple[str, bytes]]
    sum: int


def head_payload(digest: flagdigest.Digest) -> dict[str, Any]:
    return {
        "count": digest.count,
        "revocations": digest.revocations,
        "buckets": [f"{int(v):016x}" for v in digest.sums],
        "digest": digest.hexdigest(),
    }


def _pack(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def chunk_payload(
    bucket: int,
    hashes: np.ndarray,
    status: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    revoked: list[tuple[str, bytes]],
    bucket_sum: int,
) -> dict[str, Any]:
    """One bucket's full content; arrays packed (25 bytes an entry, ~34 MB for a million)."""
    return {
        "bucket": bucket,
        "count": int(hashes.size),
        "revocations": len(revoked),
        "sum": f"{bucket_sum:016x}",
        "h": _pack(hashes, "<u8"),
        "s": _pack(status, "u1"),
        "start": _pack(start, "<i8"),
        "end": _pack(end, "<i8"),
        "revoked": _revocations(revoked),
    }


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


def decode_head(update: Signed) -> FlagHead:
    if update.type not in ("flags.head", "flags.delta"):
        raise WireError(f"expected flags.head, got {update.type}")
    return parse_head(update.version, update.payload)


def delta_head(update: Signed) -> FlagHead | None:
    """The head a delta says the kiosk reaches with it (None from an older hub)."""
    head = update.payload.get("head")
    return None if head is None else parse_head(update.version, head)


def _is_count(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def parse_head(version: int, p: Any) -> FlagHead:
    if not isinstance(p, dict):
        raise WireError("flags.head: payload must be an object")
    count, revocations, buckets = p.get("count"), p.get("revocations"), p.get("buckets")
    if not (_is_count(count) and _is_count(revocations)):
        raise WireError("flags.head: count and revocations must be non-negative integers")
    if not isinstance(buckets, list) or len(buckets) != flagdigest.NBUCKETS:
        raise WireError(f"flags.head: buckets must be a list of {flagdigest.NBUCKETS} sums")
    sums = np.array([_hash(b) for b in buckets], dtype=np.uint64)
    digest = flagdigest.head_digest(sums, count, revocations)
    if p.get("digest") != digest:
        raise WireError("flags.head: digest does not match its bucket sums")
    return FlagHead(version, count, revocations, sums, digest)


def _unpack(value: Any, dtype: str, n: int, name: str) -> np.ndarray:
    if not isinstance(value, str):
        raise WireError(f"flags.chunk: {name} must be base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(f"flags.chunk: {name} is not base64") from None
    arr = np.frombuffer(raw, dtype=dtype)
    if arr.size != n:
        raise WireError(f"flags.chunk: {name} holds {arr.size} items, count says {n}")
    return arr


def decode_chunk(update: Signed, seed: bytes) -> FlagChunk:
    """A bucket's content, verified on its own: every item in its bucket, sorted, summing to `sum`."""
    if update.type != "flags.chunk":
        raise WireError(f"expected flags.chunk, got {update.type}")
    p = update.payload
    bucket, count = p.get("bucket"), p.get("count")
    if not isinstance(bucket, int) or isinstance(bucket, bool) or not 0 <= bucket < flagdigest.NBUCKETS:
        raise WireError("flags.chunk: bucket must be 0..255")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_ENTRIES:
        raise WireError("flags.chunk: bad count")
    hashes = _unpack(p.get("h"), "<u8", count, "h").astype(np.uint64)
    status = _unpack(p.get("s"), "u1", count, "s").astype(np.uint8)
    start = _unpack(p.get("start"), "<i8", count, "start").astype(np.int64)
    end = _unpack(p.get("end"), "<i8", count, "end").astype(np.int64)
    revoked = _revoked(p.get("revoked", []))
    if count and (np.any(flagdigest.buckets_of(hashes) != bucket) or np.any(hashes[1:] <= hashes[:-1])):
        raise WireError("flags.chunk: hashes outside the bucket or not strictly sorted")
    if count and (status.min() < 1 or status.max() > len(STATUSES)):
        raise WireError("flags.chunk: unknown status code")
    rhashes = [flagdigest.revocation_hash(seed, kind, value) for kind, value in revoked]
    if any(flagdigest.bucket_of(r) != bucket for r in rhashes):
        raise WireError("flags.chunk: a revocation outside the bucket")
    total = flagdigest.sum_of(
        np.concatenate(
            [flagdigest.entry_hashes(seed, hashes, status, start, end), np.array(rhashes, dtype=np.uint64)]
        )
    )
    if f"{total:016x}" != p.get("sum"):
        raise WireError("flags.chunk: content does not match its sum")
    return FlagChunk(update.version, bucket, hashes, status, start, end, revoked, total)


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
