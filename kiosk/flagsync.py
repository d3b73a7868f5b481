"""The kiosk's one owner of flag state: verified flag updates in, one SQLite transaction each, proof by head.

Why one owner: the flag list, its version and its digest must move together or a crash between two
writes leaves a kiosk that believes it has version N with the list of N-1 (a person who is never
stopped). So every change here is: validate everything -> write the rows *and* the version in one
SQLite transaction -> swap the in-memory arrays (under the verifier's lock). A kill at any point leaves
either the old state or the new one on disk, and `load()` rebuilds memory from disk.

What arrives (wire/flagsync.py, already signature-checked by the link):
- `flags.delta` from version u to v: applied only if it follows our version (else: a gap, see below);
  it carries the head it leads to, so the whole list is checked against the hub's after every delta;
- `flags.head` (retained): the hub's version, counts and per-bucket digest sums (wire/flagdigest.py).
  Equal version and different sums: our list is damaged (a corrupted disk, a bug): the buckets that
  differ are asked for again. A head ahead of us for longer than `grace_s`: we missed deltas;
- `flags.chunk`: one bucket's full content at the hub's version; replaces that bucket (rows, revocations,
  its sum). A bucket repaired at version V > ours remembers V, so older deltas skip it (a chunk is never
  overwritten by an older change). When every bucket's sum equals the newest head's, we take its version.

What differs is asked for in the retained status (`resync_buckets`, a few at a time, so neither broker
nor kiosk ever holds the whole list twice); a resync interrupted by a disconnect or a restart carries on
with the buckets that still differ.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore
from wire import flagdigest, flagsync
from wire.envelope import Signed
from wire.errors import WireError

log = logging.getLogger(__name__)

VERSION_TYPE = "flags"
LEGACY_UPDATE_PREFIX = "flag-update-"  # flag updates saved one document each, before this module
FLAG_TYPES = ("flags.delta", "flags.head", "flags.chunk")
GRACE_S = 2.0  # a head ahead of us this long (not just ahead of a delta in flight) means we missed one
MAX_REQUEST = 32  # buckets asked for at once (~4 MB at a million flags)
_LOAD_BATCH = 65_536
RevKey = tuple[str, bytes]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS flag_entries (h INTEGER PRIMARY KEY, s INTEGER NOT NULL,"
    " a INTEGER NOT NULL, e INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS flag_revocations (kind TEXT NOT NULL, value BLOB NOT NULL,"
    " bucket INTEGER NOT NULL, PRIMARY KEY (kind, value))",
    "CREATE INDEX IF NOT EXISTS flag_revocations_bucket ON flag_revocations(bucket)",
    "CREATE TABLE IF NOT EXISTS flag_bucket_versions (bucket INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
)


def _signed(hashes: np.ndarray) -> list[int]:
    """uint64 hashes as SQLite's signed 64-bit integers."""
    return np.asarray(hashes, dtype=np.uint64).view(np.int64).tolist()


def _signed_bounds(bucket: int) -> tuple[int, int]:
    lo, hi = flagdigest.bucket_bounds(bucket)  # one bucket never straddles the sign bit
    lo_s, hi_s = np.array([lo, hi], dtype=np.uint64).view(np.int64).tolist()
    return int(lo_s), int(hi_s)


class FlagSync:
    def __init__(
        self,
        store: KioskStore,
        flags: FlagStore,
        lock: threading.Lock | threading.RLock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        grace_s: float = GRACE_S,
    ) -> None:
        self.store = store
        self.flags = flags
        self.lock = lock if lock is not None else threading.RLock()
        self.seed = flagdigest.digest_seed(flags.key)
        self._monotonic = monotonic
        self._grace_s = grace_s
        self.digest = flagdigest.Digest()
        self._revs: list[dict[RevKey, int]] = [{} for _ in range(flagdigest.NBUCKETS)]
        self.bucket_versions: dict[int, int] = {}
        self.head: flagsync.FlagHead | None = None
        self.wanted: set[int] = set()
        self.last_mismatch: str | None = None
        self.chunks_applied = 0
        self.resyncs = 0
        self._behind_since: float | None = None
        with store.transaction() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    # -- state ------------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.flags.version

    @property
    def resync_wanted(self) -> bool:
        return bool(self.wanted)

    def status_fields(self) -> dict[str, Any]:
        if self.wanted:
            state = "resyncing"
        elif self.head is None:
            state = "unverified"
        elif self.head.version > self.version:
            state = "behind"
        else:
            state = "verified"
        return {
            "flags_state": state,
            "resync_buckets": sorted(self.wanted)[:MAX_REQUEST],
            "resync_buckets_left": len(self.wanted),
            "flags_mismatch": self.last_mismatch,
            "flags_digest": self.digest.hexdigest(),
        }

    # -- start-up ---------------------------------------------------------------------------------

    def load(self) -> FlagSync:
        """Memory from disk. First start: the provisioned list (flags file or empty) becomes the stored
        one; a kiosk that saved each update as a document (before this module) is migrated once and
        those documents are pruned in the same transaction."""
        stored = self.store.applied_version(VERSION_TYPE)
        legacy = self.store.documents_with_prefix(LEGACY_UPDATE_PREFIX)
        with self.store.transaction() as conn:
            rows = conn.execute("SELECT count(*) FROM flag_entries").fetchone()[0]
            revs = conn.execute("SELECT count(*) FROM flag_revocations").fetchone()[0]
        if legacy:
            self._replay_legacy(legacy)
            self._persist_all(prune_legacy=True)
        elif rows or revs or stored:
            self._load_from_disk()
        else:
            self._persist_all(prune_legacy=False)
        self._recompute_digest()
        return self

    def _replay_legacy(self, saved: list[tuple[int, str]]) -> None:
        from kiosk.verify.flag_updates import apply_update  # the pre-flagsync format, for migration only

        for version, body in saved:
            if version <= self.flags.version:
                continue
            doc = json.loads(body)
            try:
                apply_update(self.flags, Signed(doc["type"], version, "", doc["payload"], doc.get("kid", "")))
            except (ValueError, WireError) as exc:
                log.warning(
                    "saved flag update %d no longer applies (%s): the head will repair us", version, exc
                )
                break

    def _persist_all(self, prune_legacy: bool) -> None:
        h, s, a, e = self.flags.arrays()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM flag_entries")
            conn.execute("DELETE FROM flag_revocations")
            conn.execute("DELETE FROM flag_bucket_versions")
            conn.executemany(
                "INSERT OR REPLACE INTO flag_entries(h, s, a, e) VALUES (?, ?, ?, ?)",
                zip(_signed(h), s.tolist(), a.tolist(), e.tolist(), strict=True),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO flag_revocations(kind, value, bucket) VALUES (?, ?, ?)",
                [(k, v, flagdigest.bucket_of(self._rhash(k, v))) for k, v in self._all_revocations()],
            )
            self.store.set_version_in(conn, VERSION_TYPE, self.flags.version)
            if prune_legacy:
                n = self.store.delete_documents_with_prefix(conn, LEGACY_UPDATE_PREFIX)
                log.info("flags: %d saved update documents migrated and pruned", n)

    def _load_from_disk(self) -> None:
        with self.store.transaction() as conn:
            version = conn.execute("SELECT version FROM versions WHERE type = ?", [VERSION_TYPE]).fetchone()
            n = conn.execute("SELECT count(*) FROM flag_entries").fetchone()[0]
            h, s = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.uint8)
            a, e = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
            cur = conn.execute("SELECT h, s, a, e FROM flag_entries")
            i = 0
            while rows := cur.fetchmany(_LOAD_BATCH):  # bounded: never a million Python tuples at once
                block = np.array(rows, dtype=np.int64)
                k = block.shape[0]
                h[i : i + k], s[i : i + k], a[i : i + k], e[i : i + k] = block.T
                i += k
            revs = conn.execute("SELECT kind, value FROM flag_revocations").fetchall()
            bucket_versions = conn.execute("SELECT bucket, version FROM flag_bucket_versions").fetchall()
        with self.lock:
            self.flags.load_arrays(h.view(np.uint64), s, a, e)
            for kind in flagsync.REVOCATION_KINDS:
                self.flags.revocation_set(kind).clear()
            for kind, value in revs:
                self.flags.revocation_set(kind).add(bytes(value))
            self.flags.version = int(version[0]) if version else 0
        self.bucket_versions = {int(b): int(v) for b, v in bucket_versions}

    def _all_revocations(self) -> list[RevKey]:
        return [(kind, v) for kind in flagsync.REVOCATION_KINDS for v in self.flags.revocation_set(kind)]

    def _rhash(self, kind: str, value: bytes) -> int:
        return flagdigest.revocation_hash(self.seed, kind, value)

    def _recompute_digest(self) -> None:
        """The digest from the whole list: at start only (~40 ms at a million), then kept item by item."""
        h, s, a, e = self.flags.arrays()
        digest = flagdigest.Digest()
        digest.add(flagdigest.buckets_of(h), flagdigest.entry_hashes(self.seed, h, s, a, e))
        self._revs = [{} for _ in range(flagdigest.NBUCKETS)]
        for item in self._all_revocations():
            r = self._rhash(*item)
            self._revs[flagdigest.bucket_of(r)][item] = r
            digest.add_revocation(r)
        self.digest = digest

    # -- updates (called by the link with verified envelopes) --------------------------------------

    def handle(self, update: Signed) -> None:
        """Apply a verified flags.delta / flags.head / flags.chunk; raises WireError to refuse it."""
        if update.type == "flags.delta":
            self._apply_delta(update)
        elif update.type == "flags.head":
            self._consider(flagsync.decode_head(update))
        elif update.type == "flags.chunk":
            self._apply_chunk(flagsync.decode_chunk(update, self.seed))
        else:
            raise WireError(f"not a flag update: {update.type}")

    def tick(self) -> bool:
        """Called often by the link: True when the status should be published now (a resync starts)."""
        head = self.head
        if head is None or head.version <= self.version or self._behind_since is None:
            return False
        if self._monotonic() - self._behind_since < self._grace_s or self.wanted:
            return False
        self._behind_since = self._monotonic()  # ask again later if this does not bring us level
        self._compare(head, f"the hub's head is version {head.version}, ours {self.version}")
        return bool(self.wanted)

    def _apply_delta(self, update: Signed) -> None:
        delta = flagsync.decode_delta(update)
        head = flagsync.delta_head(update)
        u, to = self.version, update.version
        if to <= u:
            raise WireError(f"replayed or older flags.delta: version {to} <= applied {u}")
        if delta.from_version != u:
            if head is not None:
                self._consider(head)
            raise WireError(f"version gap: delta from {delta.from_version}, applied {u}")

        def fresh(h: int) -> bool:  # a bucket repaired at a version >= to already holds this change
            return self.bucket_versions.get(flagdigest.bucket_of(h), 0) < to

        added = [x for x in delta.added if fresh(x.id_hash)]
        lifted = [x for x in delta.lifted if fresh(x)]
        revoked = [x for x in delta.revoked if fresh(self._rhash(*x))]
        unrevoked = [x for x in delta.unrevoked if fresh(self._rhash(*x))]
        self._change(added, lifted, revoked, unrevoked, to)
        if head is not None:
            self._consider(head)
        elif self.head is not None and self.head.version == to:
            self._consider(self.head)

    def _change(
        self,
        added: list[flagsync.FlagEntry],
        lifted: list[int],
        revoked: list[RevKey],
        unrevoked: list[RevKey],
        to: int,
    ) -> None:
        """Lift, add and (un)revoke, then move to version `to`: disk in one transaction, then memory."""
        h, s, a, e = self.flags.arrays()
        last: dict[int, flagsync.FlagEntry | None] = {x: None for x in lifted}
        for entry in added:
            last[entry.id_hash] = entry  # an add after a lift of the same hash wins, as on the hub
        touched = np.array(sorted(last), dtype=np.uint64)
        idx = np.searchsorted(h, touched)
        present = idx < h.size
        present[present] = h[idx[present]] == touched[present]
        old = idx[present]
        digest = self.digest.copy()
        digest.add(
            flagdigest.buckets_of(h[old]),
            flagdigest.entry_hashes(self.seed, h[old], s[old], a[old], e[old]),
            -1,
        )
        keep = np.ones(h.size, dtype=bool)
        keep[old] = False
        new = [x for x in (last[k] for k in sorted(last)) if x is not None]
        nh = np.array([x.id_hash for x in new], dtype=np.uint64)
        ns = np.array([flagsync.STATUS_CODES[x.status] for x in new], dtype=np.uint8)
        na = np.array([x.start for x in new], dtype=np.int64)
        ne = np.array([flagdigest.NO_END if x.end is None else x.end for x in new], dtype=np.int64)
        digest.add(flagdigest.buckets_of(nh), flagdigest.entry_hashes(self.seed, nh, ns, na, ne))
        kh = h[keep]
        pos = np.searchsorted(kh, nh)
        arrays = (
            np.insert(kh, pos, nh),
            np.insert(s[keep], pos, ns),
            np.insert(a[keep], pos, na),
            np.insert(e[keep], pos, ne),
        )
        rev_add, rev_drop = self._revocation_changes(revoked, unrevoked, digest)
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM flag_entries WHERE h = ?", [(x,) for x in _signed(touched)])
            conn.executemany(
                "INSERT INTO flag_entries(h, s, a, e) VALUES (?, ?, ?, ?)",
                zip(_signed(nh), ns.tolist(), na.tolist(), ne.tolist(), strict=True),
            )
            self._write_revocations(conn, rev_add, rev_drop)
            self.store.set_version_in(conn, VERSION_TYPE, to)
            conn.execute("DELETE FROM flag_bucket_versions WHERE version <= ?", [to])
        with self.lock:
            self.flags.install_sorted(*arrays)
            self._swap_revocations(rev_add, rev_drop)
            self.flags.version = to
        self.digest = digest
        self.bucket_versions = {b: v for b, v in self.bucket_versions.items() if v > to}

    def _revocation_changes(
        self, revoked: Iterable[RevKey], unrevoked: Iterable[RevKey], digest: flagdigest.Digest
    ) -> tuple[dict[RevKey, int], dict[RevKey, int]]:
        add: dict[RevKey, int] = {}
        drop: dict[RevKey, int] = {}
        for item in unrevoked:
            r = self._rhash(*item)
            if item in self._revs[flagdigest.bucket_of(r)] and item not in drop:
                drop[item] = r
                digest.add_revocation(r, -1)
        for item in revoked:
            r = self._rhash(*item)
            present = item in self._revs[flagdigest.bucket_of(r)] and item not in drop
            if not present and item not in add:
                add[item] = r
                digest.add_revocation(r, +1)
        return add, drop

    def _write_revocations(
        self, conn: sqlite3.Connection, add: dict[RevKey, int], drop: dict[RevKey, int]
    ) -> None:
        conn.executemany("DELETE FROM flag_revocations WHERE kind = ? AND value = ?", list(drop))
        conn.executemany(
            "INSERT OR REPLACE INTO flag_revocations(kind, value, bucket) VALUES (?, ?, ?)",
            [(k, v, flagdigest.bucket_of(r)) for (k, v), r in add.items()],
        )

    def _swap_revocations(self, add: dict[RevKey, int], drop: dict[RevKey, int]) -> None:
        for (kind, value), r in drop.items():
            self.flags.revocation_set(kind).discard(value)
            self._revs[flagdigest.bucket_of(r)].pop((kind, value), None)
        for (kind, value), r in add.items():
            self.flags.revocation_set(kind).add(value)
            self._revs[flagdigest.bucket_of(r)][(kind, value)] = r

    def _apply_chunk(self, chunk: flagsync.FlagChunk) -> None:
        b, v, u = chunk.bucket, chunk.version, self.version
        if v < u or v < self.bucket_versions.get(b, 0):
            raise WireError(f"stale flags.chunk: bucket {b} at version {v}, ours is newer")
        h, s, a, e = self.flags.arrays()
        lo, hi = flagdigest.bucket_bounds(b)
        i = int(np.searchsorted(h, np.uint64(lo), side="left"))
        j = int(np.searchsorted(h, np.uint64(hi), side="right"))
        arrays = (
            np.concatenate([h[:i], chunk.hashes, h[j:]]),
            np.concatenate([s[:i], chunk.status, s[j:]]),
            np.concatenate([a[:i], chunk.start, a[j:]]),
            np.concatenate([e[:i], chunk.end, e[j:]]),
        )
        drop = dict(self._revs[b])
        add = {item: self._rhash(*item) for item in chunk.revoked}
        lo_s, hi_s = _signed_bounds(b)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM flag_entries WHERE h BETWEEN ? AND ?", [lo_s, hi_s])
            conn.executemany(
                "INSERT INTO flag_entries(h, s, a, e) VALUES (?, ?, ?, ?)",
                zip(
                    _signed(chunk.hashes),
                    chunk.status.tolist(),
                    chunk.start.tolist(),
                    chunk.end.tolist(),
                    strict=True,
                ),
            )
            self._write_revocations(conn, add, drop)
            if v > u:
                conn.execute(
                    "INSERT OR REPLACE INTO flag_bucket_versions(bucket, version) VALUES (?, ?)", [b, v]
                )
        with self.lock:
            self.flags.install_sorted(*arrays)
            self._swap_revocations({}, drop)
            self._swap_revocations(add, {})
        self.digest.sums[b] = np.uint64(chunk.sum)
        self.digest.count += int(chunk.hashes.size) - (j - i)
        self.digest.revocations += len(add) - len(drop)
        if v > u:
            self.bucket_versions[b] = v
        self.wanted.discard(b)
        self.chunks_applied += 1
        if self.head is not None:
            self._consider(self.head)

    # -- heads ------------------------------------------------------------------------------------

    def _consider(self, head: flagsync.FlagHead) -> None:
        """Compare our list with a (newer) head: level and equal -> verified; level or behind and
        different -> ask for the buckets that differ (behind: only after `grace_s`, see `tick`)."""
        if self.head is not None and head.version < self.head.version:
            return  # an older head (a retained one re-delivered after a newer delta)
        self.head = head
        u = self.version
        if head.version < u:
            return
        if head.version == u:
            self._behind_since = None
            self._compare(head, f"flag list differs from the hub's at version {u}")
        elif self.wanted:  # resyncing already: aim at the newest head
            self._compare(head, f"the hub's head is version {head.version}, ours {u}")
        elif self._behind_since is None:
            self._behind_since = self._monotonic()

    def _compare(self, head: flagsync.FlagHead, why: str) -> None:
        diff = self.digest.differing(head.sums)
        counts_equal = self.digest.count == head.count and self.digest.revocations == head.revocations
        if not diff and counts_equal:
            self._level_with(head)
            return
        # A bucket repaired at a version newer than this head cannot be compared with it: wait for newer.
        ask = {b for b in diff if self.bucket_versions.get(b, 0) <= head.version}
        if not diff:  # equal sums, different counts: cannot say where; ask for everything
            ask = set(range(flagdigest.NBUCKETS))
        if not ask and self._behind_since is None:
            self._behind_since = self._monotonic()  # look again at the next head, or after `grace_s`
        if ask - self.wanted:
            if not self.wanted:
                self.resyncs += 1
                log.warning("%s: resyncing %d bucket(s)", why, len(ask))
            self.last_mismatch = f"{why}: {len(ask)} bucket(s)"
        self.wanted = ask

    def _level_with(self, head: flagsync.FlagHead) -> None:
        """Every bucket equals the head's: we hold exactly its list, so we are at its version."""
        if head.version > self.version:
            with self.store.transaction() as conn:
                self.store.set_version_in(conn, VERSION_TYPE, head.version)
                conn.execute("DELETE FROM flag_bucket_versions WHERE version <= ?", [head.version])
            with self.lock:
                self.flags.version = head.version
            self.bucket_versions = {b: v for b, v in self.bucket_versions.items() if v > head.version}
            log.info("flags: level with the hub at version %d", head.version)
        if self.wanted:
            log.info("flags: resync complete, verified at version %d", head.version)
        self.wanted = set()
        self._behind_since = None
