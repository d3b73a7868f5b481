"""Operator accounts, roles and login sessions for the hub's HTTP API and dashboard.

Roles are ordered: a viewer sees the fleet, passages, health rules and reports; an operator also lists,
adds and lifts flags and runs trace queries (personal data: every one is audited); an admin also reads
the audit log and replays the registry's dead letters (hub/api/ declares each route's role). Accounts
are managed with `hub operators` on the hub machine, whose CLI is trusted as the OS user running it
(whoever can read the hub's database can read everything anyway); the network API always needs a session.

Passwords are hashed with scrypt (standard library, memory-hard); session tokens are random, given to the
client once and stored only as a SHA-256 hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from common.clitools import escape_text
from hub import audit
from hub.db import Database, from_db_time, to_db_time
from hub.login_guard import Locked
from hub.schema import operators, sessions

ROLES = ("viewer", "operator", "admin")
SESSION_TTL = dt.timedelta(hours=12)
MIN_PASSWORD = 10
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# Checked against when the account does not exist, so a missing account costs one scrypt run with the
# same parameters as a real one (the same work, hence the same time). Nobody knows its password, and a
# match would still be refused: there is no row.
_DUMMY_HASH = "scrypt$16384$8$1$zwBp4jWYedu1tsPJIdZw/A==$XP4muwpJGmZK7oW0QkZb2qrO0bABDMmEZUwMpykj1ss="


class AuthError(PermissionError):
    """Login refused or session unknown/expired; the message never says which part was wrong."""


@dataclass(frozen=True)
class Operator:
    username: str
    role: str

    def may(self, role: str) -> bool:
        """True if this operator's role is at least `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(got, base64.b64decode(digest))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_operator(
    db: Database, username: str, role: str, password: str, *, actor: str, now: dt.datetime
) -> None:
    """Create an account or reset its role and password (audited; the password never is)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.replace("-", "").replace(".", "").isalnum():
        raise ValueError("username: letters, digits, '-' and '.' only, at most 64")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    values = {"role": role, "password_hash": hash_password(password), "disabled": False}
    with db.begin() as conn:
        exists = conn.execute(sa.select(operators.c.username).where(operators.c.username == username)).first()
        if exists:
            conn.execute(sa.update(operators).where(operators.c.username == username).values(**values))
            conn.execute(sa.delete(sessions).where(sessions.c.username == username))
        else:
            conn.execute(sa.insert(operators).values(username=username, created_at=to_db_time(now), **values))
        audit.record(conn, now, actor, "operator.set", {"username": username, "role": role})


def disable_operator(db: Database, username: str, *, actor: str, now: dt.datetime) -> None:
    """Lock an account and end its sessions at once."""
    with db.begin() as conn:
        done = conn.execute(
            sa.update(operators).where(operators.c.username == username).values(disabled=True)
        ).rowcount
        if not done:
            raise KeyError(f"no operator {username!r}")
        conn.execute(sa.delete(sessions).where(sessions.c.username == username))
        audit.record(conn, now, actor, "operator.disable", {"username": username})


def list_operators(db: Database) -> list[dict[str, object]]:
    q = sa.select(operators.c.username, operators.c.role, operators.c.disabled).order_by(operators.c.username)
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def login(
    db: Database, username: str, password: str, *, now: dt.datetime, address: str | None = None
) -> tuple[str, Operator]:
    """A new session token for a valid, enabled account; failures are audited without the password
    (with the client's address when there is one). Backoff between attempts is `hub.login_guard`'s."""
    with db.begin() as conn:
        row = conn.execute(sa.select(operators).where(operators.c.username == username)).first()
        # Exactly one scrypt run either way, so a missing account takes as long as a wrong password.
        ok = check_password(password, row.password_hash if row else _DUMMY_HASH)
        refused = row is None or not ok or row.disabled
        token = secrets.token_urlsafe(32)
        if refused:  # recorded, and committed: the refusal itself is what an auditor looks for
            # Whatever was typed, escaped: a raw escape sequence as the actor would rewrite `hub audit`.
            details = {"address": address} if address else {}
            audit.record(conn, now, escape_text(username)[:64] or "-", "login.refused", details)
        else:
            conn.execute(
                sa.insert(sessions).values(
                    token_hash=_token_hash(token),
                    username=username,
                    created_at=to_db_time(now),
                    expires_at=to_db_time(now + SESSION_TTL),
                )
            )
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < to_db_time(now)))
            audit.record(conn, now, username, "login", {})
    if refused or row is None:
        raise AuthError("wrong username or password")
    return token, Operator(username, row.role)


def record_lockout(
    db: Database, username: str, address: str, waits: list[Locked], *, now: dt.datetime
) -> None:
    """Audit the start of a login backoff (once per failure that starts or extends a wait, not per 429)."""
    with db.begin() as conn:
        for w in waits:
            detail = {
                "scope": w.scope,
                "address": address,
                "failures": w.failures,
                "until": w.until.isoformat(),
            }
            audit.record(conn, now, escape_text(username)[:64] or "-", "login.locked", detail)


def session_operator(db: Database, token: str, *, now: dt.datetime) -> Operator:
    """The operator a token belongs to; AuthError if unknown, expired or the account is disabled."""
    q = (
        sa.select(operators.c.username, operators.c.role, operators.c.disabled, sessions.c.expires_at)
        .join(sessions, sessions.c.username == operators.c.username)
        .where(sessions.c.token_hash == _token_hash(token))
    )
    with db.begin() as conn:
        row = conn.execute(q).first()
    expires = from_db_time(row.expires_at) if row else None
    if row is None or row.disabled or expires is None or expires <= now:
        raise AuthError("not logged in or session expired")
    return Operator(row.username, row.role)


def logout(db: Database, token: str) -> None:
    with db.begin() as conn:
        conn.execute(sa.delete(sessions).where(sessions.c.token_hash == _token_hash(token)))
