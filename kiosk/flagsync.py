"""The kiosk's one owner of flag state: verified flag updates in, one SQLite transaction each, proof by head.

Why one owner: the flag list, its version and its digest must move together or a crash between two
writes leaves a kiosk that believes it has version N with the list of N-1 (a person who is never
stopped). So every change here is: validate everything -> write the rows *and* the version in one
SQLite transaction -> swap the in-memory arrays (under the verifier's lock). A kill at any point leaves
either the old state or the new one on disk, and `load()` rebuilds memory from disk.

Each of the 256 buckets (wire/flagdigest.py) carries its own version: the hub's version at which that
bucket is exactly the hub's. The kiosk's flag version is the lowest of them. What arrives (wire/flagsync.py,
already signature-checked by the link):
- `flags.delta` from version u to v (final states of what changed in between): it moves every bucket at
  a version in [u, v) to v; a bucket below u has missed a delta (a gap), one at v or above already holds
  it. It carries the head it leads to, so the list is checked against the hub's after every delta;
- `flags.head` (retained): the hub's version, counts and per-bucket digest sums. A bucket whose sum equals
  the head's is the hub's at that version (its version moves up to it); one at the head's version whose
  sum differs is damaged (a corrupted disk, a bug) and is asked for again at once; one below it that
  differs has missed a delta, and is asked for if the deltas do not bring it level within `grace_s`;
- `flags.chunk`: one bucket's full content at the hub's version V; replaces that bucket (rows,
  revocations, sum) unless the bucket is already newer, and the bucket is then at V. Because deltas keep
  moving repaired buckets, a kiosk converges even while the hub's list keeps changing.

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
from wire import flagdigest, flagrows, flagsync
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
        self.bv = np.zeros(flagdigest.NBUCKETS, dtype=np.int64)  # each bucket's version
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
        elif self.head.version > self.version or int(self.bv.max()) > self.version:
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
        self.bv[:] = self.flags.version
        h, s, a, e = self.flags.arrays()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM flag_entries")
            conn.execute("DELETE FROM flag_revocations")
            conn.execute("DELETE FROM flag_bucket_versions")
            conn.executemany(
                "INSERT INTO flag_bucket_versions(bucket, version) VALUES (?, ?)",
                [(b, self.flags.version) for b in range(flagdigest.NBUCKETS)],
            )
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
            # Read straight into place, in unsigned order (SQLite's signed order puts hashes >= 2^63
            # first): no sort and no second copy of the list.
            i = 0
            for where in ("h >= 0", "h < 0"):
                cur = conn.execute(f"SELECT h, s, a, e FROM flag_entries WHERE {where} ORDER BY h")
                while rows := cur.fetchmany(_LOAD_BATCH):  # bounded: never a million Python tuples at once
                    block = np.array(rows, dtype=np.int64)
                    k = block.shape[0]
                    h[i : i + k], s[i : i + k], a[i : i + k], e[i : i + k] = block.T
                    i += k
            revs = conn.execute("SELECT kind, value FROM flag_revocations").fetchall()
            bucket_versions = conn.execute("SELECT bucket, version FROM flag_bucket_versions").fetchall()
        with self.lock:
            self.flags.install_sorted(h.view(np.uint64), s, a, e)
            for kind in flagsync.REVOCATION_KINDS:
                self.flags.revocation_set(kind).clear()
            for kind, value in revs:
                self.flags.revocation_set(kind).add(bytes(value))
            self.flags.version = int(version[0]) if version else 0
        self.bv[:] = self.flags.version  # buckets never written on their own are at the list's version
        for b, v in bucket_versions:
            self.bv[int(b)] = int(v)
        with self.lock:
            self.flags.version = int(self.bv.min())

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
        """Apply a verified flags.delta / flags.head / flags.chunk; raises WireError to refuse it.

        A disk that refuses the write (full, read-only) refuses the update the same way: its transaction
        rolled back and memory is changed only after a commit, so the list stays whole; the hub's next
        head shows what is still missing."""
        try:
            if update.type == "flags.delta":
                self._apply_delta(update)
            elif update.type == "flags.head":
                self._consider(flagsync.decode_head(update))
            elif update.type == "flags.chunk":
                self._apply_chunk(flagsync.decode_chunk(update, self.seed))
            else:
                raise WireError(f"not a flag update: {update.type}")
        except sqlite3.Error as exc:
            raise WireError(f"flag store refused {update.type} version {update.version}: {exc}") from None

    def tick(self) -> bool:
        """Called often by the link: True when the status should be published now (a resync starts)."""
        if self.head is None or self._behind_since is None:
            return False
        if self._monotonic() - self._behind_since < self._grace_s:
            return False
        before = set(self.wanted)
        self._behind_since = None
        self._consider(self.head, patient=False)  # deltas did not bring them level: ask for them
        return self.wanted != before

    def _apply_delta(self, update: Signed) -> None:
        delta = flagsync.decode_delta(update)
        head = flagsync.delta_head(update)
        frm, to = delta.from_version, update.version
        if to <= self.version:
            raise WireError(f"replayed or older flags.delta: version {to} <= applied {self.version}")
        follows = (self.bv >= frm) & (self.bv < to)  # the buckets this delta moves to `to`
        if not follows.any():
            if head is not None:
                self._consider(head)
            raise WireError(f"version gap: delta from {frm}, applied {self.version}")

        def moves(h: int) -> bool:
            return bool(follows[flagdigest.bucket_of(h)])

        added = [x for x in delta.added if moves(x.id_hash)]
        lifted = [x for x in delta.lifted if moves(x)]
        revoked = [x for x in delta.revoked if moves(self._rhash(*x))]
        unrevoked = [x for x in delta.unrevoked if moves(self._rhash(*x))]
        self._change(added, lifted, revoked, unrevoked, to, follows)
        if head is not None:
            self._consider(head)
        elif self.head is not None:
            self._consider(self.head)

    def _change(
        self,
        added: list[flagsync.FlagEntry],
        lifted: list[int],
        revoked: list[RevKey],
        unrevoked: list[RevKey],
        to: int,
        follows: np.ndarray,
    ) -> None:
        """Lift, add and (un)revoke, then move the `follows` buckets to version `to`: disk in one
        transaction (rows, revocations, bucket versions, the flag version), then memory."""
        h, s, a, e = self.flags.arrays()
        last: dict[int, flagsync.FlagEntry | None] = {x: None for x in lifted}
        for entry in added:
            last[entry.id_hash] = entry  # an add after a lift of the same hash wins, as on the hub
        keys = np.array(sorted(last), dtype=np.uint64)
        rows = [last[k] for k in keys.tolist()]
        live = np.array([x is not None for x in rows], dtype=bool)
        ns = np.array([flagsync.STATUS_CODES[x.status] if x else 0 for x in rows], dtype=np.uint8)
        na = np.array([x.start if x else 0 for x in rows], dtype=np.int64)
        ne = np.array(
            [flagdigest.NO_END if x is None or x.end is None else x.end for x in rows], dtype=np.int64
        )
        plan = flagrows.plan_rows(h, keys, live, [ns, na, ne])
        old = plan.old_idx
        digest = self.digest.copy()
        digest.add(
            flagdigest.buckets_of(h[old]),
            flagdigest.entry_hashes(self.seed, h[old], s[old], a[old], e[old]),
            -1,
        )
        nh, ns, na, ne = keys[live], ns[live], na[live], ne[live]
        digest.add(flagdigest.buckets_of(nh), flagdigest.entry_hashes(self.seed, nh, ns, na, ne))
        rev_add, rev_drop = self._revocation_changes(revoked, unrevoked, digest)
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM flag_entries WHERE h = ?", [(x,) for x in _signed(keys)])
            conn.executemany(
                "INSERT INTO flag_entries(h, s, a, e) VALUES (?, ?, ?, ?)",
                zip(_signed(nh), ns.tolist(), na.tolist(), ne.tolist(), strict=True),
            )
            self._write_revocations(conn, rev_add, rev_drop)
            bv = self._write_bucket_versions(conn, np.nonzero(follows)[0], to)
        with self.lock:  # memory only once the disk has committed: in place where a flag only changed
            h, cols = flagrows.execute(plan, h, [s, a, e])
            self.flags.install_sorted(h, *cols)
            self._swap_revocations(rev_add, rev_drop)
            self.flags.version = int(bv.min())
        self.digest = digest
        self.bv = bv

    def _write_bucket_versions(
        self, conn: sqlite3.Connection, buckets: Iterable[int], version: int
    ) -> np.ndarray:
        """Inside a transaction: `buckets` now at `version`, and the flag version (the lowest); returns
        the new per-bucket versions (installed by the caller once the transaction has committed)."""
        bv = self.bv.copy()
        rows = [(version, int(b)) for b in buckets]
        for _, b in rows:
            bv[b] = version
        conn.executemany("UPDATE flag_bucket_versions SET version = ? WHERE bucket = ?", rows)
        self.store.set_version_in(conn, VERSION_TYPE, int(bv.min()))
        return bv

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
        b, v = chunk.bucket, chunk.version
        if v < int(self.bv[b]):
            raise WireError(f"stale flags.chunk: bucket {b} at version {v}, ours is at {int(self.bv[b])}")
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
            bv = self._write_bucket_versions(conn, [b], v)
        with self.lock:
            self.flags.install_sorted(*arrays)
            self._swap_revocations({}, drop)
            self._swap_revocations(add, {})
            self.flags.version = int(bv.min())
        self.bv = bv
        self.digest.sums[b] = np.uint64(chunk.sum)
        self.digest.count += int(chunk.hashes.size) - (j - i)
        self.digest.revocations += len(add) - len(drop)
        self.wanted.discard(b)
        self.chunks_applied += 1
        if self.head is not None:
            self._consider(self.head)

    # -- heads ------------------------------------------------------------------------------------

    def _consider(self, head: flagsync.FlagHead, patient: bool = True) -> None:
        """Compare each bucket with a head: equal -> the bucket is at the head's version; at its version
        and different -> damaged, ask now; below it and different -> missed a delta: ask now if resyncing
        already (or not `patient`), else after `grace_s` unless deltas bring it level meanwhile."""
        if self.head is None or head.version >= self.head.version:
            self.head = head
        h = head.version
        # Never applied anything (a new kiosk): no delta in flight can bring it level, so no waiting.
        new_kiosk = int(self.bv.max()) == 0
        comparable = self.bv <= h
        differ = (self.digest.sums != head.sums) & comparable
        equal_below = ~differ & comparable & (self.bv < h)
        if equal_below.any():
            with self.store.transaction() as conn:
                bv = self._write_bucket_versions(conn, np.nonzero(equal_below)[0], h)
            with self.lock:
                self.flags.version = int(bv.min())
            self.bv = bv
        damaged = set(np.nonzero(differ & (self.bv == h))[0].tolist())
        behind = set(np.nonzero(differ & (self.bv < h))[0].tolist())
        self.wanted &= set(np.nonzero(differ)[0].tolist()) | set(np.nonzero(~comparable)[0].tolist())
        patient = patient and not self.wanted and not new_kiosk
        ask = damaged | (behind if not patient else set())
        if behind and not ask >= behind and self._behind_since is None:
            self._behind_since = self._monotonic()
        elif not behind:
            self._behind_since = None
        new = ask - self.wanted
        if new:
            if not self.wanted:
                self.resyncs += 1
            why = "damaged" if damaged else "behind"
            self.last_mismatch = (
                f"version {h}: {len(damaged)} bucket(s) differ from the hub's, {len(behind)} behind ({why})"
            )
            log.warning("flags: %s: asking for %d bucket(s)", self.last_mismatch, len(new))
            self.wanted |= new
        if not self.wanted and not differ.any() and int(self.bv.min()) == h and self.last_mismatch:
            log.info("flags: level with the hub at version %d", h)
