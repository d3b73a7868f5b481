"""The hub's one owner of the flag list kiosks see: the log in, signed deltas, heads and chunks out.

Why one component: the list, its version and its digest must move together. Built once from the log
at start (one paged scan, no limit), then advanced only by the changes after its version, in pages of
at most `delta_cap` changes: each page becomes one signed delta sealed with its own last version and
carrying the head it leads to, so a 100,000-change import is a chain of deltas, never a truncated one.

The active set lives in sorted numpy arrays (hash, status, start, end, and each entry's digest term:
33 bytes an entry, ~33 MB at a million) with per-bucket digest sums kept up to date item by item
(wire/flagdigest.py): a head costs O(buckets), never a rescan. Heads, deltas and each bucket's chunk are
sealed once per version and cached, so a thousand kiosks asking for the same bucket cost one signature.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from hub.db import Database
from hub.flags import FlagChange, iter_changes
from wire import flagdigest, flagrows, flagsync
from wire.identity import normalise_flag_target
from wire.idhash import id_hash

log = logging.getLogger(__name__)

DELTA_CAP = 10_000  # changes per delta: ~0.7 MB signed, far below the kiosk's 8 MiB envelope limit
LOAD_PAGE = 50_000
STATUS_NAMES = {"F0": "F0", "F1": "F1", "F2": "F2", "revoked": "REVOKED"}

Sealer = Callable[[str, int, dict[str, Any]], bytes]
Rejected = list[tuple[FlagChange, str]]
OnRejected = Callable[[Rejected], None]


def check_change(change: FlagChange) -> None:
    """Raise ValueError if a change breaks today's rules (a row older than them, or written around them).

    The flag log is written through hub/flags.py, which applies the same rules (wire/identity.py); a row
    that breaks them anyway must cost only itself, never the changes after it: before this check, one
    pass target `zz` or a person id of full-width digits made every later publish raise, for good.
    """
    if normalise_flag_target(change.target_kind, change.target) != change.target:
        raise ValueError(f"target {change.target!r} is not in its normal form")
    if change.status not in STATUS_NAMES:
        raise ValueError(f"status {change.status!r} is unknown")
    if change.ends_at is not None and change.ends_at <= change.starts_at:
        raise ValueError("ends_at is not after starts_at")


def _log_rejected(rejected: Rejected) -> None:
    for change, reason in rejected:
        log.error("flags: change %d left out: %s", change.version, reason)


@dataclass(frozen=True)
class Delta:
    from_version: int
    to_version: int
    changes: int
    sealed: bytes


_EPOCH = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)


def _epoch(t: dt.datetime | None) -> int | None:
    """Epoch seconds of a UTC time (naive or aware, as the database gives it back)."""
    if t is None:
        return None
    return (t.replace(tzinfo=None) - _EPOCH) // _SECOND


class FlagState:
    def __init__(
        self,
        db: Database,
        flag_key: bytes,
        seal: Sealer,
        delta_cap: int = DELTA_CAP,
        on_rejected: OnRejected = _log_rejected,
    ) -> None:
        if delta_cap < 1:
            raise ValueError("delta_cap must be at least 1")
        self.db = db
        self._on_rejected = on_rejected  # changes that break the rules: left out, dead-lettered by the caller
        self._key = flag_key
        self._seal = seal
        self.seed = flagdigest.digest_seed(flag_key)
        self.delta_cap = delta_cap
        self.version = 0
        self.digest = flagdigest.Digest()
        self._h = np.empty(0, dtype=np.uint64)
        self._s = np.empty(0, dtype=np.uint8)
        self._a = np.empty(0, dtype=np.int64)
        self._e = np.empty(0, dtype=np.int64)
        self._eh = np.empty(0, dtype=np.uint64)
        self._revoked: list[dict[tuple[str, bytes], int]] = [{} for _ in range(flagdigest.NBUCKETS)]
        self._chunks: dict[int, tuple[int, bytes]] = {}  # bucket -> (version sealed at, envelope)
        self._payloads: dict[int, dict[str, Any]] = {}  # bucket -> its chunk payload, until it changes
        self._head: tuple[int, bytes] | None = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return int(self._h.size)

    # -- building ---------------------------------------------------------------------------------

    def load(self) -> FlagState:
        """Read the whole log once, in bounded pages (no limit on its length)."""
        with self._lock:
            for page in iter_changes(self.db, self.version, LOAD_PAGE):
                self._apply(page)
        log.info("flags: %d active persons at version %d", len(self), self.version)
        return self

    def advance(self) -> Iterator[Delta]:
        """The chain of signed deltas from this state's version to the log's head, applied as they go."""
        for page in iter_changes(self.db, self.version, self.delta_cap):
            with self._lock:
                if page[0].version <= self.version:  # another caller advanced meanwhile
                    continue
                from_version = self.version
                payload = self._apply(page, build=True)
                assert payload is not None
                payload["head"] = flagsync.head_payload(self.digest)
                sealed = self._seal("flags.delta", self.version, payload)
            yield Delta(from_version, self.version, len(page), sealed)

    def _apply(self, page: list[FlagChange], build: bool = False) -> dict[str, Any] | None:
        """Apply one page of changes (oldest first); with `build`, returns the delta payload that does
        the same (loading at start builds none)."""
        latest: dict[tuple[str, str], FlagChange] = {}
        rejected: Rejected = []
        for change in page:
            try:
                check_change(change)
            except (ValueError, UnicodeError) as exc:
                rejected.append((change, f"{type(exc).__name__}: {exc}"))
                continue
            latest[(change.target_kind, change.target)] = change
        if rejected:
            self._on_rejected(rejected)
        persons = [c for (kind, _), c in latest.items() if kind == "person"]
        passes = [c for (kind, _), c in latest.items() if kind != "person"]
        touched: set[int] = set()

        hashes = np.array([id_hash(self._key, c.target) for c in persons], dtype=np.uint64)
        keys, first = np.unique(hashes, return_index=True)  # sorted; one change per person in a page
        chosen = [persons[k] for k in first.tolist()]
        live = np.array([not c.lifted for c in chosen], dtype=bool)
        ns = np.array([flagsync.STATUS_CODES[STATUS_NAMES[c.status]] for c in chosen], dtype=np.uint8)
        starts = [_epoch(c.starts_at) for c in chosen]
        ends = [_epoch(c.ends_at) for c in chosen]
        na = np.array(starts, dtype=np.int64)
        ne = np.array([flagdigest.NO_END if x is None else x for x in ends], dtype=np.int64)
        neh = flagdigest.entry_hashes(self.seed, keys, ns, na, ne)
        plan = flagrows.plan_rows(self._h, keys, live, [ns, na, ne, neh])
        self.digest.add(flagdigest.buckets_of(self._h[plan.old_idx]), self._eh[plan.old_idx], -1)
        self.digest.add(flagdigest.buckets_of(keys[live]), neh[live], +1)
        self._h, (self._s, self._a, self._e, self._eh) = flagrows.execute(
            plan, self._h, [self._s, self._a, self._e, self._eh]
        )
        touched.update(flagdigest.buckets_of(keys).tolist())

        revoked, unrevoked = [], []
        for c in passes:  # a pass, by pass id (hex: check_change made sure)
            item = ("pass_id", bytes.fromhex(c.target))
            r = flagdigest.revocation_hash(self.seed, *item)
            bucket = self._revoked[flagdigest.bucket_of(r)]
            touched.add(flagdigest.bucket_of(r))
            if c.lifted:
                unrevoked.append(item)
                if bucket.pop(item, None) is not None:
                    self.digest.add_revocation(r, -1)
            else:
                revoked.append(item)
                if item not in bucket:
                    bucket[item] = r
                    self.digest.add_revocation(r, +1)

        from_version = self.version
        self.version = page[-1].version
        for b in touched:
            self._payloads.pop(b, None)
        if not build:
            return None
        rows = zip(keys.tolist(), live.tolist(), chosen, starts, ends, strict=True)
        entries, lifted = [], []
        for h, alive, c, start, end in rows:
            if alive:
                entries.append(flagsync.FlagEntry(h, STATUS_NAMES[c.status], int(start or 0), end))
            else:
                lifted.append(h)
        return flagsync.delta_payload(from_version, entries, lifted, revoked, unrevoked)

    # -- cached signed documents ------------------------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        """(version, the signed head): sealed once per version, from the kept sums (no scan)."""
        with self._lock:
            if self._head is None or self._head[0] != self.version:
                payload = flagsync.head_payload(self.digest)
                self._head = (self.version, self._seal("flags.head", self.version, payload))
            return self._head

    def chunk(self, bucket: int) -> bytes:
        """One bucket's full content, signed at the current version; cached until the bucket or the
        version changes (a chunk always carries the version it is true at, so a kiosk can order it
        against deltas)."""
        if not 0 <= bucket < flagdigest.NBUCKETS:
            raise ValueError(f"bucket {bucket} is not 0..{flagdigest.NBUCKETS - 1}")
        with self._lock:
            cached = self._chunks.get(bucket)
            if cached is not None and cached[0] == self.version:
                return cached[1]
            payload = self._payloads.get(bucket)
            if payload is None:  # the bucket changed since it was last encoded
                lo, hi = flagdigest.bucket_bounds(bucket)
                i = int(np.searchsorted(self._h, np.uint64(lo), side="left"))
                j = int(np.searchsorted(self._h, np.uint64(hi), side="right"))
                h, s, a, e = self._h[i:j], self._s[i:j], self._a[i:j], self._e[i:j]
                bucket_sum = int(self.digest.sums[bucket])
                payload = flagsync.chunk_payload(
                    bucket, h, s, a, e, sorted(self._revoked[bucket]), bucket_sum
                )
                self._payloads[bucket] = payload
            sealed = self._seal("flags.chunk", self.version, payload)
            self._chunks[bucket] = (self.version, sealed)
            return sealed

    def active_hashes(self) -> dict[int, tuple[int, int, int]]:
        """hash -> (status code, start, end) of every active person (for tests and the bench)."""
        with self._lock:
            rows = zip(self._h.tolist(), self._s.tolist(), self._a.tolist(), self._e.tolist(), strict=True)
            return {h: (s, a, e) for h, s, a, e in rows}

    def revocations(self) -> set[tuple[str, bytes]]:
        with self._lock:
            return {item for bucket in self._revoked for item in bucket}
