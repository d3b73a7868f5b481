"""Flag store: person flags (F0/F1/F2/revoked) and revocations, compact and never in clear text.

Why keyed hashes: a stolen SD card must not hand out a list of sick people. A person is stored
as HMAC-SHA256(deployment key, 12-digit id) truncated to 8 bytes (a uint64); without the key the
hashes cannot be tested against the 10^12 possible ids. At one million flags a 64-bit hash
collision has a probability around 3e-8: acceptable for a kiosk that then asks for a review.

Why numpy: one million entries as Python objects cost ~150 MB; as four sorted parallel arrays
(uint64 hash, uint8 status, int64 start, int64 end) they cost 25 MB, and `searchsorted` finds an
id in a couple of microseconds. Deltas (add/lift) rebuild the arrays (O(n), ~100 ms at 1M),
which is fine for deltas arriving minutes apart.

Revocations (passes by id or signature hash; HC1 by the EU's UCI, country+UCI and signature
hashes) are far fewer and live in plain sets of bytes.

JSON file format (`kiosk verify --flags PATH`)::

    {
      "version": 12,
      "key": "hex",                          # optional HMAC key; default: DEFAULT_KEY (dev only!)
      "persons": [
        {"id": "001099012345", "status": "F0", "start": "2026-11-01T00:00:00Z", "end": null},
        {"id_hash": "9f2c...16 hex", "status": "F1", "start": "...", "end": "..."}
      ],
      "pass_revocations": {"pass_id": ["hex", ...], "signature": ["hex16", ...]},
      "hc1_revocations": {"uci": ["hex16"], "country_uci": ["hex16"], "signature": ["hex16"]}
    }

Clear `id`s are hashed on load with the file's key (convenient for tests and tiny
deployments); production files carry only `id_hash` values computed by the hub with the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

from common.flagkey import DEFAULT_KEY
from wire.identity import is_person_id
from wire.idhash import id_hash

NO_END = np.iinfo(np.int64).max
MAX_FLAG_FILE = 512 * 1024 * 1024


class FlagStatus(IntEnum):
    F0 = 1
    F1 = 2
    F2 = 3
    REVOKED = 4


class FlagFileError(ValueError):
    """A flag file that cannot be loaded (message names the problem)."""


@dataclass(frozen=True, slots=True)
class PersonFlag:
    id_hash: int
    status: FlagStatus
    start: int  # epoch seconds
    end: int | None = None


@dataclass(frozen=True, slots=True)
class FlagHit:
    status: FlagStatus
    start: int
    end: int | None


def revocation_hash(data: bytes) -> bytes:
    """EU DCC revocation hash: SHA-256 truncated to 16 bytes."""
    return hashlib.sha256(data).digest()[:16]


class FlagStore:
    """Versioned person flags and revocations. Queries take the time from the caller (no clock reads)."""

    def __init__(self, key: bytes = DEFAULT_KEY, version: int = 0) -> None:
        self.key = key
        self.version = version
        self._hashes = np.empty(0, dtype=np.uint64)
        self._status = np.empty(0, dtype=np.uint8)
        self._start = np.empty(0, dtype=np.int64)
        self._end = np.empty(0, dtype=np.int64)
        self.pass_ids: set[bytes] = set()
        self.pass_signatures: set[bytes] = set()
        self.hc1_uci: set[bytes] = set()
        self.hc1_country_uci: set[bytes] = set()
        self.hc1_signature: set[bytes] = set()

    def __len__(self) -> int:
        return int(self._hashes.size)

    def hash_id(self, id_number: str) -> int:
        """wire.idhash.id_hash with this store's key (the hub uses the same function)."""
        return id_hash(self.key, id_number)

    # -- bulk load and deltas -------------------------------------------------------------
    def load_arrays(self, hashes: np.ndarray, status: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        """Replace all person flags from parallel arrays (the fast path for big lists)."""
        order = np.argsort(hashes, kind="stable")
        self._hashes = np.ascontiguousarray(hashes[order], dtype=np.uint64)
        self._status = np.ascontiguousarray(status[order], dtype=np.uint8)
        self._start = np.ascontiguousarray(start[order], dtype=np.int64)
        self._end = np.ascontiguousarray(end[order], dtype=np.int64)
        self._dedupe()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, status, start, end), sorted by hash: read-only views for the flag sync."""
        return self._hashes, self._status, self._start, self._end

    def install_sorted(
        self, hashes: np.ndarray, status: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> None:
        """Swap in arrays the caller already sorted by hash with no repeats (kiosk/flagsync.py builds
        them in one pass, so no second sort and no second copy)."""
        self._hashes, self._status, self._start, self._end = hashes, status, start, end

    def _dedupe(self) -> None:
        """Keep one entry per hash (the last one given wins, as a delta would)."""
        if self._hashes.size < 2:
            return
        keep = np.ones(self._hashes.size, dtype=bool)
        keep[:-1] = self._hashes[:-1] != self._hashes[1:]
        if keep.all():
            return
        self._hashes, self._status = self._hashes[keep], self._status[keep]
        self._start, self._end = self._start[keep], self._end[keep]

    def revocation_set(self, name: str) -> set[bytes]:
        """The set behind a revocation kind: pass_id, pass_signature, uci, country_uci, hc1_signature."""
        sets = {
            "pass_id": self.pass_ids,
            "pass_signature": self.pass_signatures,
            "uci": self.hc1_uci,
            "country_uci": self.hc1_country_uci,
            "hc1_signature": self.hc1_signature,
        }
        if name not in sets:
            raise ValueError(f"unknown revocation kind {name!r}")
        return sets[name]

    def apply_delta(
        self,
        added: Iterable[PersonFlag],
        lifted: Iterable[int],
        to_version: int,
        revoked: Iterable[tuple[str, bytes]] = (),
        unrevoked: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        """Apply a (verified) delta from the hub: lift hashes, then add/replace flags; revocations
        are (kind, value) pairs, kind as in `revocation_set`.

        Refuses to go backwards: an older or equal version raises ValueError, so a replayed
        delta cannot unflag anyone. Validates everything before changing anything.
        """
        if to_version <= self.version:
            raise ValueError(f"delta to version {to_version} is not newer than {self.version}")
        revoked, unrevoked = list(revoked), list(unrevoked)
        for name, _ in revoked + unrevoked:
            self.revocation_set(name)
        for name, value in unrevoked:
            self.revocation_set(name).discard(value)
        for name, value in revoked:
            self.revocation_set(name).add(value)
        added = list(added)
        drop = np.array(list(lifted) + [f.id_hash for f in added], dtype=np.uint64)
        keep = ~np.isin(self._hashes, drop) if drop.size else np.ones(self._hashes.size, dtype=bool)
        new_h = np.array([f.id_hash for f in added], dtype=np.uint64)
        new_s = np.array([int(f.status) for f in added], dtype=np.uint8)
        new_a = np.array([f.start for f in added], dtype=np.int64)
        new_e = np.array([NO_END if f.end is None else f.end for f in added], dtype=np.int64)
        self.load_arrays(
            np.concatenate([self._hashes[keep], new_h]),
            np.concatenate([self._status[keep], new_s]),
            np.concatenate([self._start[keep], new_a]),
            np.concatenate([self._end[keep], new_e]),
        )
        self.version = to_version

    # -- queries -------------------------------------------------------------------------
    def person(self, id_number: str, ended_by: dt.datetime | None) -> FlagHit | None:
        """The flag held for this 12-digit id, unless its end is at or before `ended_by`.

        A flag applies from the moment the kiosk holds it, whatever its start time says: a clock
        set back must never put a flagged person before their flag. Its end lifts it only by a time
        the caller has proven (`TimeContext.flag_end_cutoff`); None honours no end at all.
        """
        cutoff = None if ended_by is None else int(ended_by.timestamp())
        return self.person_by_hash(self.hash_id(id_number), cutoff)

    def person_by_hash(self, h: int, ended_by_s: int | None) -> FlagHit | None:
        hashes = self._hashes
        i = int(hashes.searchsorted(np.uint64(h)))  # the method skips np.searchsorted's dispatch
        if i >= hashes.size or hashes[i] != h:
            return None
        start, end = int(self._start[i]), int(self._end[i])
        if ended_by_s is not None and end <= ended_by_s:
            return None
        return FlagHit(FlagStatus(int(self._status[i])), start, None if end == NO_END else end)

    def pass_revoked(self, pass_id: bytes, sig_hash: bytes) -> str | None:
        if pass_id in self.pass_ids:
            return "revoked_pass_id"
        if sig_hash in self.pass_signatures:
            return "revoked_signature"
        return None

    def hc1_revoked(self, uci: str, country: str, sig_hash: bytes) -> str | None:
        """Check the three EU revocation hashes; returns the reason code or None."""
        if uci and revocation_hash(uci.encode("utf-8")) in self.hc1_uci:
            return "revoked_uci"
        if uci and revocation_hash((country + uci).encode("utf-8")) in self.hc1_country_uci:
            return "revoked_country_uci"
        if sig_hash in self.hc1_signature:
            return "revoked_signature"
        return None

    def nbytes(self) -> int:
        return int(self._hashes.nbytes + self._status.nbytes + self._start.nbytes + self._end.nbytes)


def _epoch(value: object, field: str) -> int:
    if not isinstance(value, str):
        raise FlagFileError(f"{field}: expected an ISO 8601 string")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise FlagFileError(f"{field}: not ISO 8601: {value!r}") from exc
    if when.tzinfo is None:
        raise FlagFileError(f"{field}: needs a time zone: {value!r}")
    return int(when.timestamp())


def _hex_set(doc: Mapping[str, object], field: str) -> set[bytes]:
    values = doc.get(field, [])
    if not isinstance(values, list):
        raise FlagFileError(f"{field}: expected a list of hex strings")
    try:
        return {bytes.fromhex(v) for v in values}
    except (ValueError, TypeError) as exc:
        raise FlagFileError(f"{field}: bad hex value") from exc


def load_flag_file(path: Path) -> FlagStore:
    """Load the JSON format described in the module docstring. Raises FlagFileError."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FLAG_FILE + 1)
        doc = json.loads(data)
    except (OSError, ValueError) as exc:
        raise FlagFileError(f"{path}: {exc}") from exc
    if len(data) > MAX_FLAG_FILE or not isinstance(doc, dict):
        raise FlagFileError(f"{path}: not a JSON object of acceptable size")
    unknown = set(doc) - {"version", "key", "persons", "pass_revocations", "hc1_revocations"}
    if unknown:
        raise FlagFileError(f"{path}: unknown keys {sorted(unknown)}")
    try:
        key = bytes.fromhex(doc["key"]) if "key" in doc else DEFAULT_KEY
    except (ValueError, TypeError) as exc:
        raise FlagFileError("key: bad hex") from exc
    version = doc.get("version", 0)
    if type(version) is not int or version < 0:
        raise FlagFileError("version: expected a non-negative integer")
    store = FlagStore(key, version)
    persons = doc.get("persons", [])
    if not isinstance(persons, list):
        raise FlagFileError("persons: expected a list")
    hashes, statuses, starts, ends = [], [], [], []
    for n, p in enumerate(persons):
        where = f"persons[{n}]"
        if not isinstance(p, dict):
            raise FlagFileError(f"{where}: expected an object")
        if is_person_id(p.get("id")):
            hashes.append(store.hash_id(p["id"]))
        elif isinstance(p.get("id_hash"), str) and len(p["id_hash"]) == 16:
            try:
                hashes.append(int(p["id_hash"], 16))
            except ValueError as exc:
                raise FlagFileError(f"{where}.id_hash: bad hex") from exc
        else:
            raise FlagFileError(f"{where}: needs a 12-digit 'id' or a 16-hex 'id_hash'")
        try:
            statuses.append(int(FlagStatus[str(p.get("status", "")).upper()]))
        except KeyError as exc:
            raise FlagFileError(f"{where}.status: one of F0, F1, F2, REVOKED") from exc
        starts.append(_epoch(p.get("start"), f"{where}.start"))
        ends.append(NO_END if p.get("end") is None else _epoch(p.get("end"), f"{where}.end"))
    store.load_arrays(
        np.array(hashes, dtype=np.uint64),
        np.array(statuses, dtype=np.uint8),
        np.array(starts, dtype=np.int64),
        np.array(ends, dtype=np.int64),
    )
    pr = doc.get("pass_revocations", {})
    hr = doc.get("hc1_revocations", {})
    if not isinstance(pr, dict) or not isinstance(hr, dict):
        raise FlagFileError("revocations: expected objects")
    store.pass_ids = _hex_set(pr, "pass_id")
    store.pass_signatures = _hex_set(pr, "signature")
    store.hc1_uci = _hex_set(hr, "uci")
    store.hc1_country_uci = _hex_set(hr, "country_uci")
    store.hc1_signature = _hex_set(hr, "signature")
    return store
