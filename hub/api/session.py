"""Log in, log out, who am I: sessions for scripts (bearer token) and the dashboard (cookie)."""

import math

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from hub import operators
from hub.api.deps import API, SESSION_COOKIE, Db, Settings, Viewer, session_token
from hub.api.shapes import Problem, Responses
from hub.operators import AuthError

router = APIRouter(prefix=API, tags=["session"])

TOO_MANY_LOGINS: Responses = {
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


@router.post("/login", response_model=LoginOut, responses=TOO_MANY_LOGINS)
def login(body: LoginIn, request: Request, response: Response, db: Db, s: Settings) -> LoginOut:
    now, address = s.clock(), request.client.host if request.client else "-"
    guard = s.login_guard
    # Checked before the password: during a wait no guess is even looked at.
    wait = guard.retry_after(body.username, address, now)
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        raise HTTPException(429, "too many failed logins: try again later", headers={"Retry-After": retry})
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


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, db: Db) -> None:
    token = session_token(request)
    if token:
        operators.logout(db, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=Me)
def me(who: Viewer) -> Me:
    return Me(username=who.username, role=who.role)
