"""The hub's HTTP JSON API for operators (and the dashboard that uses it), with its OpenAPI document.

FastAPI: the request and response shapes are declared once as types, checked on the way in, and the
OpenAPI document at `/api/v1/openapi.json` is generated from the same declarations, so it cannot drift from
the code. Swagger UI is switched off: it loads its assets from a CDN and hubs may run offline.

Every route except health and login needs a session (a bearer token or the dashboard's cookie) and a role
(`hub.operators.ROLES`). Trace queries go through `hub.audit`, which records the query before running it.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at run time, and the
# role dependencies are local to create_app, which postponed (string) annotations could not resolve.
import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, Field, model_validator

from hub import audit, operators
from hub.body_limit import BodyLimit
from hub.db import Database
from hub.flags import add_flag, flag_dead_letter_list, flag_list, lift_flag
from hub.fleet import fleet_view
from hub.login_guard import LoginGuard
from hub.operators import AuthError, Operator
from hub.queries import Passage, recent_passages, report_csv, report_dict
from hub.registry.forwarder import list_dead_letters, replay_dead_letter
from hub.rules import current_rules, summary
from wire.identity import PERSON_ID_PATTERN, normalise_flag_target

log = logging.getLogger(__name__)

API = "/api/v1"
MAX_BODY_BYTES = 64 * 1024  # the largest real body (a flag with its note) is under 1 KiB
SESSION_COOKIE = "hub_session"


@dataclass
class ApiSettings:
    stale_after_s: float = 300.0
    timezone: dt.tzinfo = dt.timezone(dt.timedelta(hours=7))
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    on_flags_changed: Callable[[], None] = field(default=lambda: None)  # wakes the flag publisher
    secure_cookie: bool = False  # set behind TLS
    login_guard: LoginGuard = field(default_factory=LoginGuard)  # backoff after failed logins


class Problem(BaseModel):
    detail: str


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no such item"}}
TOO_MANY_LOGINS: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Problem,
        "description": "too many failed logins for this account or from this address: wait and retry",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer"},
            }
        },
    }
}


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    token: str
    username: str
    role: str


class Me(BaseModel):
    username: str
    role: str


class _Target(BaseModel):
    """A flag target, checked against wire/identity.py's rule for its kind before anything is stored."""

    target: str = Field(
        min_length=1, max_length=128, description="12-digit id number (ASCII), or a pass id in hex"
    )
    target_kind: Literal["person", "pass"] = "person"

    @model_validator(mode="after")
    def _target_matches_kind(self) -> "_Target":
        self.target = normalise_flag_target(self.target_kind, self.target)
        return self


class FlagIn(_Target):
    status: Literal["F0", "F1", "F2", "revoked"]
    starts_at: dt.datetime | None = Field(None, description="default: now")
    ends_at: dt.datetime | None = None
    note: str | None = Field(None, max_length=500)


class LiftIn(_Target):
    note: str | None = Field(None, max_length=500)


class FlagVersion(BaseModel):
    version: int


class RuleOut(BaseModel):
    identifier: str
    version: str
    type: str
    country: str
    certificate_type: str
    valid_from: str
    valid_to: str
    description_vi: str
    description_en: str


class RulesOut(BaseModel):
    version: int = Field(description="0 before the first `hub rules set`")
    rules: list[RuleOut]


class ContactOut(BaseModel):
    subject_id: str
    subject_name: str | None
    checkpoint_id: str
    their_passage: dt.datetime
    person_passage: dt.datetime
    gap_s: float


def _token(request: Request) -> str | None:
    """The session token: a bearer header (scripts) or the dashboard's cookie."""
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)


def _aware(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None:
        raise HTTPException(422, "times need a zone, e.g. 2026-11-29T08:00:00+07:00")
    return t


def create_app(db: Database, settings: ApiSettings | None = None) -> FastAPI:
    s = settings or ApiSettings()
    app = FastAPI(
        title="QR checkpoint hub",
        version="1",
        description="Operators' API: fleet, passages, flags, traces (audited) and daily reports.",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses={
            400: {"model": Problem, "description": "the body is not JSON"},
            401: {"model": Problem, "description": "not logged in, session expired, or login refused"},
            403: {"model": Problem, "description": "the operator's role does not allow this"},
            413: {"model": Problem, "description": f"request body over {MAX_BODY_BYTES} bytes"},
        },
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    def current(request: Request) -> Operator:
        token = _token(request)
        if not token:
            raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
        try:
            return operators.session_operator(db, token, now=s.clock())
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    def role(needed: str) -> Callable[[Operator], Operator]:
        def check(who: Annotated[Operator, Depends(current)]) -> Operator:
            if not who.may(needed):
                raise HTTPException(403, f"needs the {needed} role")
            return who

        return check

    Viewer = Annotated[Operator, Depends(role("viewer"))]
    Op = Annotated[Operator, Depends(role("operator"))]
    Admin = Annotated[Operator, Depends(role("admin"))]

    @app.get(f"{API}/health", tags=["system"])
    def health() -> dict[str, Any]:
        return {"ok": True, "time": s.clock().isoformat()}

    @app.post(f"{API}/login", response_model=LoginOut, tags=["session"], responses=TOO_MANY_LOGINS)
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        now, address = s.clock(), request.client.host if request.client else "-"
        guard = s.login_guard
        # Checked before the password: during a wait no guess is even looked at.
        wait = guard.retry_after(body.username, address, now)
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            raise HTTPException(
                429, "too many failed logins: try again later", headers={"Retry-After": retry}
            )
        try:
            token, who = operators.login(db, body.username, body.password, now=now, address=address)
        except AuthError as exc:
            waits = guard.failed(body.username, address, now)
            if waits:
                operators.record_lockout(db, body.username, address, waits, now=now)
            raise HTTPException(401, str(exc)) from None
        guard.succeeded(body.username)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=s.secure_cookie,
            max_age=int(operators.SESSION_TTL.total_seconds()),
        )
        return LoginOut(token=token, username=who.username, role=who.role)

    @app.post(f"{API}/logout", tags=["session"], status_code=204)
    def logout(request: Request, response: Response) -> None:
        token = _token(request)
        if token:
            operators.logout(db, token)
        response.delete_cookie(SESSION_COOKIE)

    @app.get(f"{API}/me", response_model=Me, tags=["session"])
    def me(who: Viewer) -> Me:
        return Me(username=who.username, role=who.role)

    @app.get(f"{API}/kiosks", tags=["fleet"])
    def kiosks(who: Viewer) -> list[dict[str, Any]]:
        return fleet_view(db, now=s.clock(), stale_after_s=s.stale_after_s)

    @app.get(f"{API}/passages", tags=["passages"])
    def passages(
        who: Viewer,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        checkpoint_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest passages, names left out and id numbers masked (a trace shows them, audited)."""
        return recent_passages(db, limit=limit, checkpoint_id=checkpoint_id)

    @app.get(f"{API}/flags", tags=["flags"])
    def flags(
        who: Op,
        search: Annotated[str | None, Query(max_length=128)] = None,
        include_inactive: bool = False,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:
        return flag_list(db, s.clock(), search=search, include_inactive=include_inactive, limit=limit)

    @app.post(f"{API}/flags", response_model=FlagVersion, status_code=201, tags=["flags"])
    def flags_add(body: FlagIn, who: Op) -> FlagVersion:
        now = s.clock()
        try:
            version = add_flag(
                db,
                body.target,
                body.status,
                starts_at=_aware(body.starts_at) if body.starts_at else now,
                ends_at=_aware(body.ends_at) if body.ends_at else None,
                actor=who.username,
                now=now,
                target_kind=body.target_kind,
                note=body.note,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        s.on_flags_changed()
        return FlagVersion(version=version)

    @app.post(f"{API}/flags/lift", response_model=FlagVersion, tags=["flags"], responses=NOT_FOUND)
    def flags_lift(body: LiftIn, who: Op) -> FlagVersion:
        try:
            version = lift_flag(
                db,
                body.target,
                actor=who.username,
                now=s.clock(),
                target_kind=body.target_kind,
                note=body.note,
            )
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        s.on_flags_changed()
        return FlagVersion(version=version)

    @app.get(f"{API}/flags/dead-letters", tags=["flags"])
    def flags_dead_letters(who: Op) -> list[dict[str, Any]]:
        """Flag changes that cannot be sent to kiosks (set aside by the import or the publisher)."""
        return flag_dead_letter_list(db)

    @app.get(f"{API}/trace/person", response_model=list[Passage], tags=["trace"])
    def trace_person(
        who: Op,
        id: Annotated[str, Query(pattern=PERSON_ID_PATTERN, description="12-digit id number")],
        start: Annotated[dt.datetime, Query(alias="from")],
        end: Annotated[dt.datetime, Query(alias="to")],
    ) -> list[Passage]:
        """Where and when the person passed. Audited before it runs."""
        found = audit.audited_trace_person(
            db, id, _aware(start), _aware(end), actor=who.username, now=s.clock()
        )
        return found  # the query's own dataclass is the response schema

    @app.get(f"{API}/trace/contacts", response_model=list[ContactOut], tags=["trace"])
    def trace_contacts(
        who: Op,
        id: Annotated[str, Query(pattern=PERSON_ID_PATTERN)],
        start: Annotated[dt.datetime, Query(alias="from")],
        end: Annotated[dt.datetime, Query(alias="to")],
        window_minutes: Annotated[float, Query(gt=0, le=24 * 60)] = 30,
    ) -> list[ContactOut]:
        """Who passed the same checkpoint within the window of the person's passages (F1 candidates)."""
        found = audit.audited_trace_contacts(
            db,
            id,
            _aware(start),
            _aware(end),
            dt.timedelta(minutes=window_minutes),
            actor=who.username,
            now=s.clock(),
        )
        return [ContactOut(**c.__dict__, gap_s=c.gap.total_seconds()) for c in found]

    @app.get(f"{API}/reports/daily", tags=["reports"], response_model=None)
    def report_daily(
        who: Viewer, date: dt.date, format: Literal["json", "csv"] = "json"
    ) -> list[dict[str, Any]] | PlainTextResponse:
        report = audit.audited_daily_report(db, date, s.timezone, actor=who.username, now=s.clock())
        if format == "csv":
            return PlainTextResponse(
                report_csv(report),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="report-{date.isoformat()}.csv"'},
            )
        return report_dict(report)

    @app.get(f"{API}/dead-letters", tags=["registry"])
    def dead_letters(who: Admin, include_replayed: bool = False) -> list[dict[str, Any]]:
        return list_dead_letters(db, include_replayed=include_replayed)

    @app.post(
        f"{API}/dead-letters/{{dead_letter_id}}/replay",
        tags=["registry"],
        responses={**NOT_FOUND, 409: {"model": Problem, "description": "already replayed"}},
    )
    def dead_letter_replay(dead_letter_id: int, who: Admin) -> dict[str, Any]:
        try:
            ids = replay_dead_letter(db, dead_letter_id, now=s.clock(), actor=who.username)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"requeued": ids}

    @app.get(f"{API}/rules", response_model=RulesOut, tags=["rules"])
    def rules(who: Viewer) -> RulesOut:
        current = current_rules(db)
        if current is None:
            return RulesOut(version=0, rules=[])
        version, body = current
        return RulesOut(version=version, rules=[RuleOut(**row) for row in summary(body)])

    @app.get(f"{API}/audit", tags=["system"])
    def audit_log(
        who: Admin,
        action: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        return audit.audit_entries(db, action_prefix=action, limit=limit, before_id=before_id)

    _mount_dashboard(app)
    return app


def _mount_dashboard(app: FastAPI) -> None:
    """The operators' dashboard: static files packaged with the hub (no CDN), using the API above."""
    static = resources.files("hub") / "dashboard"
    if not static.is_dir():
        return

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(static / "index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if "/" in name or name.startswith(".") or not (static / name).is_file():
            raise HTTPException(404)
        return FileResponse(str(static / name))
