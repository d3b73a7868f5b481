"""What the routes need, as FastAPI dependencies: the database, the settings and the logged-in operator.

`create_app` puts the database and the settings on `app.state`; the routes ask for them by type
(`Db`, `Settings`) and for the operator by role (`Viewer`, `Op`, `Admin`), so each router module is plain
module-level functions that FastAPI wires per request, and a test can build an app over any database.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time, and `Role.__call__`
# (a method of an instance, without the module's globals at hand) could not resolve string annotations.
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from hub import operators
from hub.db import Database
from hub.login_guard import LoginGuard
from hub.operators import AuthError, Operator

API = "/api/v1"
SESSION_COOKIE = "hub_session"


@dataclass
class ApiSettings:
    stale_after_s: float = 300.0
    timezone: dt.tzinfo = dt.timezone(dt.timedelta(hours=7))
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    on_flags_changed: Callable[[], None] = field(default=lambda: None)  # wakes the flag publisher
    secure_cookie: bool = False  # set behind TLS
    login_guard: LoginGuard = field(default_factory=LoginGuard)  # backoff after failed logins


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def settings(request: Request) -> ApiSettings:
    s: ApiSettings = request.app.state.settings
    return s


Db = Annotated[Database, Depends(database)]
Settings = Annotated[ApiSettings, Depends(settings)]


def session_token(request: Request) -> str | None:
    """The session token: a bearer header (scripts) or the dashboard's cookie."""
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)


def current_operator(request: Request, db: Db, s: Settings) -> Operator:
    token = session_token(request)
    if not token:
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
    try:
        return operators.session_operator(db, token, now=s.clock())
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


class Role:
    """A dependency that lets through only an operator whose role includes `needed` (else 403)."""

    def __init__(self, needed: str) -> None:
        self.needed = needed

    def __call__(self, who: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if not who.may(self.needed):
            raise HTTPException(403, f"needs the {self.needed} role")
        return who


Viewer = Annotated[Operator, Depends(Role("viewer"))]
Op = Annotated[Operator, Depends(Role("operator"))]
Admin = Annotated[Operator, Depends(Role("admin"))]


def aware(t: dt.datetime) -> dt.datetime:
    """A time from a request, refused (422) without a zone: the hub never guesses which one was meant."""
    if t.tzinfo is None:
        raise HTTPException(422, "times need a zone, e.g. 2026-11-29T08:00:00+07:00")
    return t
