"""The hub's flag log: F0/F1/F2/revoked flags from the registry and from operators, as versioned changes.

Every add or lift is a NEW row whose autoincrement `version` is the flag-list version kiosks see; nothing
is updated in place, so "changes since version V" (what a signed delta to kiosks carries, built by wire/)
is a plain range query, and the log doubles as history. Targets are stored in clear here (the hub holds
the passage log anyway); kiosks receive keyed hashes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub import audit
from hub.db import Database, from_db_time, to_db_time
from hub.registry.client import RegistryClient
from hub.schema import flag_dead_letters, flag_log, hub_state
from hub.validate import InvalidEvent, parse_rfc3339
from wire.identity import TARGET_KINDS as _KINDS
from wire.identity import normalise_flag_target

log = logging.getLogger(__name__)

STATUSES = frozenset({"F0", "F1", "F2", "revoked"})
TARGET_KINDS = frozenset(_KINDS)
REGISTRY_CURSOR = "registry_flags_version"
IMPORT_LOCK = "hub.flags.import"
# Every writer of the log holds this until it commits, so versions commit in the order they are numbered:
# on PostgreSQL two writers could otherwise commit 11 before 10, and a reader that took 11 (the flag
# publisher, which then asks only for changes after 11) would never see 10: a person never flagged.
LOG_LOCK = "hub.flags.log"


@dataclass(frozen=True)
class FlagChange:
    version: int
    target_kind: str
    target: str
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    lifted: bool
    source: str


def _row(
    target_kind: str,
    target: str,
    status: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None,
    lifted: bool,
    source: str,
    now: dt.datetime,
    note: str | None = None,
) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"status: {status!r} is not one of {sorted(STATUSES)}")
    target = normalise_flag_target(target_kind, target)  # the one rule of wire/identity.py
    if ends_at is not None and ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    return {
        "target_kind": target_kind,
        "target": target,
        "status": status,
        "starts_at": to_db_time(starts_at),
        "ends_at": None if ends_at is None else to_db_time(ends_at),
        "lifted": lifted,
        "source": source,
        "note": note,
        "created_at": to_db_time(now),
    }


def _insert(conn: sa.Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(sa.insert(flag_log).values(**row).returning(flag_log.c.version)).scalar_one())


def add_flag(
    db: Database,
    target: str,
    status: str,
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    actor: str,
    now: dt.datetime,
    target_kind: str = "person",
    note: str | None = None,
) -> int:
    """An operator flags a person or pass; returns the new flag-list version. Audited."""
    row = _row(target_kind, target, status, starts_at, ends_at, False, f"operator:{actor}", now, note)
    with db.begin() as conn:
        db.lock_in_transaction(conn, LOG_LOCK)
        version = _insert(conn, row)
        audit.record(
            conn, now, actor, "flag.add", {"version": version, "target": row["target"], "status": status}
        )
    return version


def lift_flag(
    db: Database,
    target: str,
    *,
    actor: str,
    now: dt.datetime,
    target_kind: str = "person",
    note: str | None = None,
) -> int:
    """An operator lifts the current flag on a target; raises KeyError if it has no active flag.

    A target that breaks the identity rules raises ValueError. (A bad row already in the log, from before
    the rules, is dead-lettered by the flag publisher and never reaches kiosks; nothing to lift there.)
    """
    target = normalise_flag_target(target_kind, target)
    with db.begin() as conn:
        db.lock_in_transaction(conn, LOG_LOCK)
        current = _latest(conn, target_kind, target)
        if current is None or current.lifted:
            raise KeyError(f"{target_kind} {target} has no flag to lift")
        row = _row(target_kind, target, current.status, now, None, True, f"operator:{actor}", now, note)
        version = _insert(conn, row)
        audit.record(conn, now, actor, "flag.lift", {"version": version, "target": target})
    return version


def _latest(conn: sa.Connection, target_kind: str, target: str) -> Any:
    q = (
        sa.select(flag_log)
        .where(flag_log.c.target_kind == target_kind, flag_log.c.target == target)
        .order_by(flag_log.c.version.desc())
        .limit(1)
    )
    return conn.execute(q).first()


def _change(r: Any) -> FlagChange:
    starts = from_db_time(r.starts_at)
    assert starts is not None
    return FlagChange(
        r.version,
        r.target_kind,
        r.target,
        r.status,
        starts,
        from_db_time(r.ends_at),
        bool(r.lifted),
        r.source,
    )


def changes_since(db: Database, version: int, limit: int | None = None) -> list[FlagChange]:
    """Flag changes after `version`, oldest first; at most `limit` (None: all of them).

    A caller that passes a limit gets a *prefix*: it must carry on from the last version returned
    (`iter_changes` does), never treat the page as everything (that silently lost flags before).
    """
    q = sa.select(flag_log).where(flag_log.c.version > version).order_by(flag_log.c.version)
    if limit is not None:
        q = q.limit(limit)
    with db.begin() as conn:
        return [_change(r) for r in conn.execute(q)]


def iter_changes(db: Database, after: int = 0, page: int = 50_000) -> Iterator[list[FlagChange]]:
    """Every flag change after `after`, oldest first, in pages of at most `page` (bounded memory)."""
    while True:
        changes = changes_since(db, after, limit=page)
        if not changes:
            return
        yield changes
        after = changes[-1].version


def head_version(db: Database) -> int:
    with db.begin() as conn:
        return int(conn.execute(sa.select(sa.func.max(flag_log.c.version))).scalar() or 0)


def active_flags(db: Database, at: dt.datetime) -> dict[tuple[str, str], str]:
    """(target_kind, target) -> status for every flag in force at `at` (latest change per target wins)."""
    latest: dict[tuple[str, str], FlagChange] = {}
    for page in iter_changes(db):
        for c in page:
            latest[(c.target_kind, c.target)] = c
    return {
        k: c.status
        for k, c in latest.items()
        if not c.lifted and c.starts_at <= at and (c.ends_at is None or at < c.ends_at)
    }


def import_registry_changes(
    db: Database, head: int, changes: list[dict[str, Any]], *, now: dt.datetime
) -> int:
    """Apply the registry's `GET /v1/flags` answer; returns how many changes were new.

    Safe to run from several workers at once and to repeat: under a lock, changes at or below the stored
    registry cursor are skipped, and the cursor advances in the same transaction.

    A change that breaks the rules (an id that is not 12 ASCII digits, a pass target that is not hex, a bad
    time) is dead-lettered (`flag_dead_letters`, logged) and skipped: one bad change from the registry
    must not stop every later one from reaching the hub, as a failing import repeated on every poll would.
    """
    applied = 0
    with db.begin() as conn:
        db.lock_in_transaction(conn, IMPORT_LOCK)
        db.lock_in_transaction(conn, LOG_LOCK)
        cursor = conn.execute(
            sa.select(hub_state.c.value).where(hub_state.c.name == REGISTRY_CURSOR)
        ).scalar()
        cursor = int(cursor or 0)
        for ch in sorted(changes, key=lambda c: int(c["version"])):
            if int(ch["version"]) <= cursor:
                continue
            try:
                starts = parse_rfc3339(ch["starts_at"], "starts_at") if ch.get("starts_at") else now
                ends = parse_rfc3339(ch["ends_at"], "ends_at") if ch.get("ends_at") else None
                row = _row(
                    str(ch.get("target_kind", "person")),
                    str(ch["target"]),
                    str(ch["status"]),
                    starts,
                    ends,
                    bool(ch.get("lifted", False)),
                    "registry",
                    now,
                )
            except (InvalidEvent, ValueError, KeyError) as exc:
                reason = f"registry flag change {ch.get('version')}: {exc}"
                dead_letter_change(conn, "registry", int(ch["version"]), ch, reason, now)
                continue
            _insert(conn, row)
            applied += 1
        new_cursor = max(cursor, head)
        if new_cursor != cursor:
            conn.execute(sa.delete(hub_state).where(hub_state.c.name == REGISTRY_CURSOR))
            conn.execute(sa.insert(hub_state).values(name=REGISTRY_CURSOR, value=new_cursor))
    return applied


def dead_letter_change(
    conn: sa.Connection, source: str, version: int, change: dict[str, Any], reason: str, now: dt.datetime
) -> bool:
    """Set a flag change aside for operators (`hub flags dead-letters`); False if it already was.

    `source` is `registry` (refused at import, `version` is the registry's) or `publisher` (a row in the
    flag log that cannot be sent to kiosks, `version` is the flag-log version). Logged as an error: an
    operator must look at it, since a flag that never reaches kiosks lets a flagged person through.
    """
    exists = conn.execute(
        sa.select(flag_dead_letters.c.id).where(
            flag_dead_letters.c.source == source, flag_dead_letters.c.version == version
        )
    ).first()
    if exists:
        return False
    body = json.dumps(change, ensure_ascii=True, default=str)[:4096]
    conn.execute(
        sa.insert(flag_dead_letters).values(
            source=source, version=version, reason=reason[:1000], body=body, created_at=to_db_time(now)
        )
    )
    log.error("flag change dead-lettered (%s version %d): %r", source, version, reason)
    return True


def flag_dead_letter_list(db: Database, limit: int = 1000) -> list[dict[str, Any]]:
    """Dead-lettered flag changes, newest first (what `hub flags dead-letters` and the API show)."""
    q = sa.select(flag_dead_letters).order_by(flag_dead_letters.c.id.desc()).limit(limit)
    with db.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        at = from_db_time(r["created_at"])
        r["created_at"] = at.isoformat() if at else None
    return rows


def flag_dead_letter_count(db: Database) -> int:
    with db.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(flag_dead_letters)).scalar() or 0)


def registry_cursor(db: Database) -> int:
    """The registry flag version the hub has already imported."""
    with db.begin() as conn:
        v = conn.execute(sa.select(hub_state.c.value).where(hub_state.c.name == REGISTRY_CURSOR)).scalar()
    return int(v or 0)


def sync_from_registry(db: Database, client: RegistryClient, *, now: dt.datetime) -> int:
    """One poll of the registry's flags; returns the number of new changes. Raises on a bad answer."""
    reply = client.get_flags(since=registry_cursor(db))
    if reply.status != 200:
        raise ConnectionError(f"registry flags: {reply.error or f'HTTP {reply.status}'}")
    body = json.loads(reply.body)
    return import_registry_changes(db, int(body["version"]), list(body["changes"]), now=now)


def flag_list(
    db: Database,
    at: dt.datetime,
    *,
    search: str | None = None,
    include_inactive: bool = False,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The current state of each flagged target (latest change per target), for operators.

    `search` matches the start of the target (an id number prefix). Inactive entries (lifted, expired, not
    yet started) are left out unless asked for. Newest change first.
    """
    latest = (
        sa.select(sa.func.max(flag_log.c.version).label("version"))
        .group_by(flag_log.c.target_kind, flag_log.c.target)
        .subquery()
    )
    q = sa.select(flag_log).join(latest, latest.c.version == flag_log.c.version)
    if search:
        q = q.where(flag_log.c.target.startswith(search, autoescape=True))
    q = q.order_by(flag_log.c.version.desc())
    out: list[dict[str, Any]] = []
    with db.begin() as conn:
        for r in conn.execute(q):
            c = _change(r)
            active = not c.lifted and c.starts_at <= at and (c.ends_at is None or at < c.ends_at)
            if not (active or include_inactive):
                continue
            out.append(
                {
                    "version": c.version,
                    "target_kind": c.target_kind,
                    "target": c.target,
                    "status": c.status,
                    "active": active,
                    "lifted": c.lifted,
                    "starts_at": c.starts_at.isoformat(),
                    "ends_at": c.ends_at.isoformat() if c.ends_at else None,
                    "source": c.source,
                    "note": r.note,
                }
            )
            if len(out) >= limit:
                break
    return out
