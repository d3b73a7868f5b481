"""Hub storage connection: one SQLAlchemy Core code path for SQLite and PostgreSQL.

The URL in config picks the backend: `sqlite:///path/hub.db` (embedded default, zero set-up) or
`postgresql://user@host/db` (several hub workers). Everything above this module writes plain SQLAlchemy
Core statements; the few dialect differences (upsert, advisory locks, SQLite pragmas) live here.

SQLite notes: WAL so readers never block the writer; every transaction starts with BEGIN IMMEDIATE so two
writers queue on the busy timeout instead of failing with "database is locked" on a read->write upgrade.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept the plain `postgresql://` form in config and use the psycopg 3 driver for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@dataclass
class Database:
    """An engine plus the dialect-specific helpers the hub needs. Cheap to share between threads."""

    engine: Engine

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: commits on normal exit, rolls back on an exception."""
        with self.engine.begin() as conn:
            yield conn

    def dialect_insert(self, table: sa.Table) -> Any:
        """This dialect's INSERT construct (it has `on_conflict_do_nothing/do_update` and `excluded`)."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def insert_ignore(self, table: sa.Table) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING for this dialect (existing row kept, new one dropped)."""
        return self.dialect_insert(table).on_conflict_do_nothing()

    def lock_in_transaction(self, conn: Connection, name: str) -> None:
        """Serialise a critical section across workers until the transaction ends.

        PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE already holds the
        database's single write lock, so nothing more is needed.
        """
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})

    def dispose(self) -> None:
        self.engine.dispose()


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _ensure_wal(cur: Any) -> None:
    """Switch a fresh database file to WAL (persistent, so later connections only read it).

    The switch needs an exclusive lock and SQLite does not always wait on the busy timeout for it:
    several workers opening a new file at once can get "database is locked". Retry, bounded.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_setup(engine: Engine) -> None:
    """WAL, busy timeout, and our own BEGIN IMMEDIATE (SQLAlchemy's documented pysqlite recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _ensure_wal(cur)
        cur.execute("PRAGMA synchronous=FULL")  # an ack promises durability: fsync the WAL on commit
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_database(url: str, *, pool_size: int = 5) -> Database:
    """Open (not migrate) the database named by `url`. Call `hub.schema.migrate` once at start."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _sqlite_setup(engine)
    else:
        engine = sa.create_engine(url, pool_size=pool_size, pool_pre_ping=True)
    return Database(engine)


def to_db_time(t: dt.datetime) -> dt.datetime:
    """Stored form of a time: naive UTC (SQLite keeps no zone; one convention for both backends)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    return t.astimezone(dt.UTC).replace(tzinfo=None)


@overload
def from_db_time(t: dt.datetime) -> dt.datetime: ...
@overload
def from_db_time(t: None) -> None: ...
def from_db_time(t: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC time from its stored form (a NOT NULL column's value is never None)."""
    return None if t is None else t.replace(tzinfo=dt.UTC)
