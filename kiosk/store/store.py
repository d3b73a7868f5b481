"""The kiosk's durable record: passages with a gap-free sequence, the outbox, applied versions.

Durability choices, for a Raspberry Pi on an SD card that loses power without warning:
- WAL journal with `synchronous=FULL`: each passage's commit is fsynced before `record` returns,
  and `record` returns before the light is shown, so no verdict anyone saw can be lost. WAL keeps
  that to one sequential append per passage (kind to SD cards), and readers (the MQTT link) never
  block the writer (the scan loop).
- `journal_size_limit` keeps the WAL file from growing without bound after a long offline spell.
- The sequence number is a counter in the `meta` table, incremented in the same transaction as
  the insert: gap-free, never reused even after delivered rows are purged.

Personal fields (the subject's id number, name, date of birth) stay in clear only until the hub
has acknowledged the passage: they are what a re-send needs. The ack replaces them, in the same
transaction, by a keyed hash of the id (`subject_id_hash`, wire/idhash.py with the deployment's
flag key: the same hash the flag lists use, so a record can still be matched to a person by whoever
holds the key). `secure_delete` zeroes the replaced bytes in the database file, and the WAL, which
still holds the old pages, is checkpointed and truncated within `scrub_interval_s` of the ack.

When the disk refuses a write (full, or the card was remounted read-only after errors) the kiosk
keeps deciding: the passage is kept in memory, an alarm is raised in the health report, and the
held passages are written first, in order, as soon as the disk accepts writes again. Nothing
undelivered is ever deleted to make room; if even the memory spill is full, the count of lost
passages is reported loudly, never silently.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from wire.events import PassageEvent, format_time
from wire.idhash import id_hash_hex

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCRUB_INTERVAL_S = 10.0  # how long personal data may outlive its ack in the WAL (SD-card friendly)
PURGE_CHUNK = 1000


@dataclass
class StoreHealth:
    alarms: set[str] = field(default_factory=set)  # "disk_full", "read_only", "size_cap", "spill_overflow"
    held_in_memory: int = 0
    lost: int = 0
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.alarms

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "alarms": sorted(self.alarms),
            "held_in_memory": self.held_in_memory,
            "lost": self.lost,
            "last_error": self.last_error,
        }


class KioskStore:
    """Thread-safe: the scan loop records, the link thread reads the outbox and marks deliveries."""

    def __init__(
        self,
        path: str | Path,
        retention: timedelta = timedelta(days=7),
        size_cap_bytes: int = 512 << 20,
        memory_spill_max: int = 100_000,
        subject_key: bytes | None = None,
        scrub_interval_s: float = SCRUB_INTERVAL_S,
    ) -> None:
        """`subject_key`: the deployment's id-hash key (flag_key_file) for `subject_id_hash` after
        the ack; None keeps no trace of the subject at all."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention = retention
        self.size_cap_bytes = size_cap_bytes
        self.health = StoreHealth()
        self._spill: deque[dict[str, Any]] = deque()
        self._spill_max = memory_spill_max
        self._lock = threading.RLock()
        self._subject_key = subject_key
        self._scrub_interval = scrub_interval_s
        self._wal_scrub_due = False
        self._last_wal_scrub = float("-inf")
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=10)
        self.db = sqlite_utils.Database(conn)
        for pragma in (
            "PRAGMA auto_vacuum=INCREMENTAL",  # takes effect on a new file: lets purges give space back
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA journal_size_limit=8388608",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",  # replaced personal fields are zeroed, not left in free space
        ):
            self.db.execute(pragma)
        conn.create_function("scrub_subject", 1, self._scrubbed, deterministic=True)
        self._migrate()
        self._scrub_delivered()

    # -- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        with self._transaction():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS passages ("
                " seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL,"
                " scanned_at TEXT NOT NULL, delivered_at TEXT)"
            )
            self.db.execute(
                "CREATE INDEX IF NOT EXISTS passages_undelivered ON passages(seq) WHERE delivered_at IS NULL"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS versions (type TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS documents ("
                " name TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT)"
            )
            self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('next_seq', '1')")
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # -- recording ------------------------------------------------------------------------------

    def record(self, fields: dict[str, Any]) -> PassageEvent | None:
        """Store one passage durably and return it with its `seq`; None if the disk refused it.

        `fields` are the event's fields without `seq`. Held passages are written first, in order.
        """
        with self._lock:
            self._spill.append(fields)
            self._flush_spill()
            if self._spill and self._spill[-1] is fields:
                return None
            return self._last_recorded

    def retry_held(self) -> int:
        """Try again to write passages held in memory; returns how many are still held."""
        with self._lock:
            self._flush_spill()
            self._scrub_wal()
            return len(self._spill)

    def _flush_spill(self) -> None:
        self._last_recorded: PassageEvent | None = None
        while self._spill:
            fields = self._spill[0]
            try:
                event = self._insert(fields)
            except sqlite3.OperationalError as exc:
                self._refused(exc)
                break
            self._spill.popleft()
            self._last_recorded = event
        else:
            self.health.alarms -= {"disk_full", "read_only"}
        self.health.held_in_memory = len(self._spill)

    def _insert(self, fields: dict[str, Any]) -> PassageEvent:
        with self._transaction():
            seq = int(self.db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
            event = PassageEvent.from_dict({**fields, "seq": seq})
            self.db.execute(
                "INSERT INTO passages(seq, event_id, body, scanned_at) VALUES (?, ?, ?, ?)",
                [seq, event.event_id, event.to_json().decode(), event.scanned_at],
            )
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", [str(seq + 1)])
        return event

    def _refused(self, exc: sqlite3.OperationalError) -> None:
        message = str(exc)
        alarm = "read_only" if "readonly" in message or "read-only" in message else "disk_full"
        if alarm not in self.health.alarms:
            log.error("store refuses writes (%s): holding passages in memory", message)
        self.health.alarms.add(alarm)
        self.health.last_error = message
        while len(self._spill) > self._spill_max:
            self._spill.popleft()  # the oldest: there is nowhere left to keep it
            self.health.lost += 1
            self.health.alarms.add("spill_overflow")
            log.critical("passage lost: disk refuses writes and %d are held in memory", self._spill_max)

    # -- outbox ---------------------------------------------------------------------------------

    def outbox(self, limit: int = 100, after_seq: int = 0) -> list[PassageEvent]:
        """Undelivered passages in seq order, starting after `after_seq`."""
        with self._lock:
            rows = self.db.execute(
                "SELECT body FROM passages WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                [after_seq, limit],
            ).fetchall()
        return [PassageEvent.from_dict(_json(body), validate=False) for (body,) in rows]

    def backlog(self) -> int:
        with self._lock:
            return int(
                self.db.execute("SELECT count(*) FROM passages WHERE delivered_at IS NULL").fetchone()[0]
            )

    def mark_delivered(self, event_ids: list[str], now: datetime) -> int:
        """Record the hub's end-to-end ack; returns how many were newly marked."""
        if not event_ids:
            return 0
        with self._lock:
            try:
                with self._transaction():
                    marked = 0
                    for chunk in _chunks(event_ids, 500):
                        cursor = self.db.execute(
                            f"UPDATE passages SET delivered_at = ?, body = scrub_subject(body) "
                            f"WHERE delivered_at IS NULL AND event_id IN ({','.join('?' * len(chunk))})",
                            [format_time(now), *chunk],
                        )
                        marked += cursor.rowcount
                self._wal_scrub_due = self._wal_scrub_due or marked > 0
                self._scrub_wal()
                return marked
            except sqlite3.OperationalError as exc:
                # Not fatal: the passage stays in the outbox and the hub will ack it again.
                self._refused(exc)
                return 0

    # -- personal data after the ack ------------------------------------------------------------

    def _scrubbed(self, body: str) -> str:
        """The stored event without its subject, plus the keyed hash of its id (SQL `scrub_subject`)."""
        try:
            data = json.loads(body)
            subject = data.get("subject")
            if not subject:
                return body
            data["subject"] = None
            id_number = subject.get("id_number") if isinstance(subject, dict) else None
            if self._subject_key is not None and isinstance(id_number, str) and id_number.isascii():
                data["subject_id_hash"] = id_hash_hex(self._subject_key, id_number)
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        except (ValueError, AttributeError) as exc:  # never fail an ack over it: our own bodies are JSON
            log.error("cannot scrub a stored passage: %s", exc)
            return body

    def _scrub_delivered(self) -> None:
        """Rows acked by an older version kept their subject: scrub them, once per database file."""
        with self._lock:
            done = self.db.execute("SELECT 1 FROM meta WHERE key = 'scrubbed_on_ack'").fetchone()
            if done is not None:
                return
            try:
                with self._transaction():
                    scrubbed = self.db.execute(
                        "UPDATE passages SET body = scrub_subject(body) "
                        "WHERE delivered_at IS NOT NULL AND json_extract(body, '$.subject') IS NOT NULL"
                    ).rowcount
                    self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('scrubbed_on_ack', '1')")
            except sqlite3.OperationalError as exc:
                self._refused(exc)
                return
            if scrubbed:
                self._wal_scrub_due = True
                self._scrub_wal(force=True)

    def _scrub_wal(self, force: bool = False) -> None:
        """Checkpoint and truncate the WAL (which still holds the pages as they were before the ack)
        once `scrub_interval_s` has passed since the last time; the caller holds the lock."""
        if not self._wal_scrub_due:
            return
        now = time.monotonic()
        if not force and now - self._last_wal_scrub < self._scrub_interval:
            return
        try:
            busy = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):  # another process holding the file is no disk alarm: try later
                self._refused(exc)
            return
        self._last_wal_scrub = now
        self._wal_scrub_due = bool(busy)  # a reader in another process held it: try again later

    def passages(self) -> list[PassageEvent]:
        """Every stored passage in seq order (tests, export)."""
        with self._lock:
            rows = self.db.execute("SELECT body FROM passages ORDER BY seq").fetchall()
        return [PassageEvent.from_dict(_json(body), validate=False) for (body,) in rows]

    # -- retention ------------------------------------------------------------------------------

    def purge(self, now: datetime) -> int:
        """Delete delivered passages past retention, and more (oldest delivered first) over the size cap.

        Undelivered passages are never deleted.
        """
        cutoff = format_time(now - self.retention)
        removed = 0
        # In chunks, each its own short transaction, the lock released in between: the scan loop's
        # `record` waits at most one chunk, however many days of passages are due.
        while True:
            with self._lock:
                try:
                    with self._transaction():
                        deleted = self.db.execute(
                            "DELETE FROM passages WHERE seq IN (SELECT seq FROM passages WHERE "
                            "delivered_at IS NOT NULL AND delivered_at < ? ORDER BY seq LIMIT ?)",
                            [cutoff, PURGE_CHUNK],
                        ).rowcount
                except sqlite3.OperationalError as exc:
                    self._refused(exc)
                    return removed
            removed += deleted
            if deleted < PURGE_CHUNK:
                break
        while True:  # the size cap, oldest delivered first, likewise chunk by chunk
            with self._lock:
                try:
                    if self.size_bytes() <= self.size_cap_bytes:
                        self.health.alarms.discard("size_cap")
                        return removed
                    with self._transaction():
                        deleted = self.db.execute(
                            "DELETE FROM passages WHERE seq IN (SELECT seq FROM passages "
                            "WHERE delivered_at IS NOT NULL ORDER BY seq LIMIT ?)",
                            [PURGE_CHUNK],
                        ).rowcount
                    if deleted == 0:
                        self.health.alarms.add("size_cap")
                        return removed
                    self.db.execute("PRAGMA incremental_vacuum")
                except sqlite3.OperationalError as exc:
                    self._refused(exc)
                    return removed
            removed += deleted

    def size_bytes(self) -> int:
        used_pages = (
            self.db.execute("PRAGMA page_count").fetchone()[0]
            - self.db.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return int(used_pages * self.db.execute("PRAGMA page_size").fetchone()[0])

    # -- versions and documents (flags, trust list) --------------------------------------------

    def applied_version(self, type_: str) -> int | None:
        with self._lock:
            row = self.db.execute("SELECT version FROM versions WHERE type = ?", [type_]).fetchone()
        return None if row is None else int(row[0])

    def save_document(self, name: str, version: int, body: str, version_type: str | None = None) -> None:
        """Store a verified document (trust list, flag snapshot) and its version atomically."""
        with self._lock, self._transaction():
            self.db.execute(
                "INSERT INTO documents(name, version, body) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET version = excluded.version, body = excluded.body",
                [name, version, body],
            )
            if version_type is not None:
                self._set_version(version_type, version)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE ... COMMIT on the store's connection, for a component that owns its own
        tables (kiosk/flagsync.py) and must move them and a version together; `set_version_in` inside."""
        with self._lock, self._transaction():
            yield self.db.conn

    def set_version_in(self, conn: sqlite3.Connection, type_: str, version: int) -> None:
        """`set_version` inside a `transaction()` (commits with it)."""
        conn.execute(
            "INSERT INTO versions(type, version) VALUES (?, ?) "
            "ON CONFLICT(type) DO UPDATE SET version = excluded.version",
            [type_, version],
        )

    def delete_documents_with_prefix(self, conn: sqlite3.Connection, prefix: str) -> int:
        """Inside a `transaction()`: drop saved documents a newer state replaces; returns how many."""
        cur = conn.execute("DELETE FROM documents WHERE substr(name, 1, ?) = ?", [len(prefix), prefix])
        return int(cur.rowcount)

    def set_version(self, type_: str, version: int) -> None:
        with self._lock, self._transaction():
            self._set_version(type_, version)

    def _set_version(self, type_: str, version: int) -> None:
        self.db.execute(
            "INSERT INTO versions(type, version) VALUES (?, ?) "
            "ON CONFLICT(type) DO UPDATE SET version = excluded.version",
            [type_, version],
        )

    def document(self, name: str) -> tuple[int, str] | None:
        with self._lock:
            row = self.db.execute("SELECT version, body FROM documents WHERE name = ?", [name]).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def documents_with_prefix(self, prefix: str) -> list[tuple[int, str]]:
        """(version, body) of every document whose name starts with `prefix`, by name."""
        with self._lock:
            rows = self.db.execute(
                "SELECT version, body FROM documents WHERE substr(name, 1, ?) = ? ORDER BY name",
                [len(prefix), prefix],
            ).fetchall()
        return [(int(v), str(b)) for v, b in rows]

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on any error) on an autocommit connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.OperationalError:
                self._db.conn.rollback()
                raise
        if self._db.conn.in_transaction:
            self._db.conn.rollback()


def _json(body: str) -> Any:
    return json.loads(body)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
