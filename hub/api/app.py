"""The hub's HTTP JSON API for operators (and the dashboard that uses it), with its OpenAPI document.

FastAPI: the request and response shapes are declared once as types, checked on the way in and out, and
the OpenAPI document at `/api/v1/openapi.json` is generated from the same declarations, so it cannot drift
from the code. Swagger UI is switched off: it loads its assets from a CDN and hubs may run offline.

The routes live in one router per domain (session, system, fleet, passages, flags, trace, reports,
registry, rules), each endpoint with a response model; what they need (database, settings, the
logged-in operator and its role) comes from hub/api/deps.py as FastAPI dependencies. Every route except
health and login needs a session (a bearer token or the dashboard's cookie) and a role
(`hub.operators.ROLES`). Trace queries go through `hub.audit`, which records the query before running it.
"""

from fastapi import FastAPI

from hub.api import dashboard, flags, fleet, passages, registry, reports, rules, session, system, trace
from hub.api.deps import API, ApiSettings
from hub.api.shapes import Problem
from hub.body_limit import BodyLimit
from hub.db import Database

MAX_BODY_BYTES = 64 * 1024  # the largest real body (a flag with its note) is under 1 KiB

# In the order the OpenAPI document lists them.
ROUTERS = [
    system.health_router,
    session.router,
    fleet.router,
    passages.router,
    flags.router,
    trace.router,
    reports.router,
    registry.router,
    rules.router,
    system.router,
]


def create_app(db: Database, settings: ApiSettings | None = None) -> FastAPI:
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
    app.state.db = db  # read per request by hub.api.deps.database / .settings
    app.state.settings = settings or ApiSettings()
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    for router in ROUTERS:
        app.include_router(router)
    if dashboard.STATIC.is_dir():
        app.include_router(dashboard.router)
    return app
