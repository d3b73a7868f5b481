"""Hub tables and a small versioned migration runner.

All times are stored as naive UTC datetimes (SQLite has no time zones; one convention for both backends).
Indexes follow what operators ask: trace a person (subject_id, scanned_at), contacts and daily reports per
checkpoint (checkpoint_id, scanned_at), and gap checks per kiosk (kiosk_id, seq).

Migrations are numbered functions applied in order inside ONE transaction each, guarded by an advisory lock
on PostgreSQL (BEGIN IMMEDIATE on SQLite), so several workers starting at once apply each step exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.db import Database, to_db_time

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("kiosk_id", sa.String(128), nullable=False),
    sa.Column("checkpoint_id", sa.String(128), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("scanned_at", sa.DateTime, nullable=False),
    sa.Column("clock_ok", sa.Boolean, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(32), nullable=True),
    sa.Column("subject_name", sa.Text, nullable=True),
    sa.Column("subject_dob", sa.String(16), nullable=True),
    sa.Column("verdict", sa.String(8), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("officer_id", sa.String(128), nullable=True),
    sa.Column("override", sa.Boolean, nullable=True),
    sa.Column("flags_version", sa.BigInteger, nullable=True),
    sa.Column("payload_digest", sa.String(64), nullable=True),
    sa.Column("body", sa.JSON, nullable=False),  # the event exactly as received, for the registry
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Index("ix_events_subject_time", "subject_id", "scanned_at"),
    sa.Index("ix_events_checkpoint_time", "checkpoint_id", "scanned_at"),
    # Not UNIQUE: a kiosk whose store was wiped restarts seq; dropping its new events would lose data.
    sa.Index("ix_events_kiosk_seq", "kiosk_id", "seq"),
)

event_rejects = sa.Table(
    "event_rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), nullable=True),
    sa.Column("kiosk_id", sa.String(128), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
)

registry_outbox = sa.Table(
    "registry_outbox",
    metadata,
    # id gives the forwarding order (arrival order at the hub).
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), sa.ForeignKey("events.event_id"), nullable=False, unique=True),
    sa.Column("state", sa.String(8), nullable=False),  # pending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    # Set when a batch is formed, BEFORE it is sent: a retry after a crash re-sends exactly the same
    # events under the same Idempotency-Key, however many new events arrived meanwhile.
    sa.Column("batch_key", sa.String(64), nullable=True),
    sa.Index("ix_outbox_state_id", "state", "id"),
)

dead_letter = sa.Table(
    "dead_letter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_ids", sa.JSON, nullable=False),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("response_body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("replayed_at", sa.DateTime, nullable=True),
)

kiosks = sa.Table(
    "kiosks",
    metadata,
    sa.Column("kiosk_id", sa.String(128), primary_key=True),
    sa.Column("checkpoint_id", sa.String(128), nullable=True),
    sa.Column("last_seen", sa.DateTime, nullable=True),
    sa.Column("last_seq", sa.BigInteger, nullable=True),
    sa.Column("status", sa.JSON, nullable=True),  # the retained status message, as published
    sa.Column("status_at", sa.DateTime, nullable=True),
)

flag_log = sa.Table(
    "flag_log",
    metadata,
    # version is the flag-list version kiosks see: every add or lift is one new row, never an update.
    sa.Column(
        "version", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("target_kind", sa.String(16), nullable=False),  # person | pass
    sa.Column("target", sa.String(128), nullable=False),  # 12-digit id, pass id or signature hash (clear)
    sa.Column("status", sa.String(8), nullable=False),  # F0 | F1 | F2 | revoked
    sa.Column("starts_at", sa.DateTime, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=True),
    sa.Column("lifted", sa.Boolean, nullable=False, default=False),
    sa.Column("source", sa.String(64), nullable=False),  # registry | operator:<name>
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_flag_log_target", "target_kind", "target", "version"),
)

hub_state = sa.Table(
    "hub_state",
    metadata,
    # Small named cursors shared by all workers, e.g. the registry flag version already imported.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_audit_at", "at"),
)


operators = sa.Table(
    "operators",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer | operator | admin
    sa.Column("password_hash", sa.Text, nullable=False),  # scrypt, with its parameters and salt
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    # Only a hash of the token is stored: a copy of the database does not log anyone in.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

hub_documents = sa.Table(
    "hub_documents",
    metadata,
    # Versioned documents the hub publishes, e.g. the issuers' trust list: written by the CLI or API,
    # published by the running service, so both may run in different processes.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

flag_dead_letters = sa.Table(
    "flag_dead_letters",
    metadata,
    # Flag changes that cannot reach kiosks (a target breaking wire/identity.py's rules): set aside, with
    # the reason, so one bad change never blocks the changes after it (hub/flags.py, flag_publisher.py).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),  # registry | publisher
    sa.Column("version", sa.BigInteger, nullable=False),  # the registry's version, or the flag log's
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the change as JSON (ASCII, escaped)
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("source", "version", name="uq_flag_dead_letters_source_version"),
)

kiosk_assignments = sa.Table(
    "kiosk_assignments",
    metadata,
    # Where each kiosk stands, as the hub knows it (hub/assignments.py): an assigned kiosk's passages are
    # stored at this checkpoint whatever its events claim, and each claim otherwise is counted.
    sa.Column("kiosk_id", sa.String(128), primary_key=True),
    sa.Column("checkpoint_id", sa.String(128), nullable=False),
    sa.Column("zone", sa.String(32), nullable=True),
    sa.Column("source", sa.String(128), nullable=False),  # cli:<user> | provisioning (...)
    sa.Column("assigned_at", sa.DateTime, nullable=False),
    sa.Column("wrong_claims", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_wrong_claim", sa.String(128), nullable=True),  # escaped
    sa.Column("last_wrong_claim_at", sa.DateTime, nullable=True),
)

V1_TABLES = ("events", "event_rejects", "registry_outbox", "dead_letter", "kiosks", "flag_log", "hub_state",
             "audit_log")  # fmt: skip


def _v1_initial(conn: Connection) -> None:
    """All tables of the first release."""
    metadata.create_all(conn, tables=[metadata.tables[name] for name in V1_TABLES])


def _v2_operators(conn: Connection) -> None:
    """Operator accounts with roles and login sessions (the HTTP API and the dashboard)."""
    metadata.create_all(conn, tables=[operators, sessions])


def _v3_documents(conn: Connection) -> None:
    """Versioned documents the hub publishes (the trust list)."""
    metadata.create_all(conn, tables=[hub_documents])


def _v4_flag_dead_letters(conn: Connection) -> None:
    """Flag changes set aside because they cannot reach kiosks (issue 12)."""
    metadata.create_all(conn, tables=[flag_dead_letters])


def _v5_kiosk_assignments(conn: Connection) -> None:
    """The hub's own record of each kiosk's checkpoint and zone (issue 12)."""
    metadata.create_all(conn, tables=[kiosk_assignments])


Migration = Callable[[Connection], None]

# Append only: never edit a released step, add a new one.
MIGRATIONS: list[tuple[int, Migration]] = [
    (1, _v1_initial),
    (2, _v2_operators),
    (3, _v3_documents),
    (4, _v4_flag_dead_letters),
    (5, _v5_kiosk_assignments),
]

MIGRATION_LOCK = "hub.schema.migrate"


def current_version(db: Database) -> int:
    """Highest applied migration (0 for an empty database)."""
    with db.begin() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def migrate(db: Database, now: dt.datetime) -> list[int]:
    """Bring the schema to the newest version; returns the versions applied by THIS call.

    Idempotent, and safe when several workers call it at once: the whole check-and-apply runs in one
    transaction under a cross-worker lock, so the loser sees the winner's versions and applies nothing.
    """
    applied: list[int] = []
    with db.begin() as conn:
        db.lock_in_transaction(conn, MIGRATION_LOCK)
        schema_version.create(conn, checkfirst=True)
        done = set(conn.execute(sa.select(schema_version.c.version)).scalars())
        for version, step in MIGRATIONS:
            if version in done:
                continue
            step(conn)
            conn.execute(sa.insert(schema_version).values(version=version, applied_at=to_db_time(now)))
            applied.append(version)
    return applied
