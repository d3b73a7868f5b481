"""Health (no login: what a load balancer or a monitor polls) and the audit log (admins)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub import audit
from hub.api.deps import API, Admin, Db, Settings
from hub.api.shapes import Timestamp

router = APIRouter(prefix=API, tags=["system"])
health_router = APIRouter(prefix=API, tags=["system"])  # first in the document, as before


class HealthOut(BaseModel):
    ok: bool
    time: Timestamp = Field(description="the hub's clock")


class AuditEntryOut(BaseModel):
    id: int
    at: Timestamp | None
    actor: str = Field(description="operator, `cli:<os user>`, or a hub job")
    action: str = Field(description="e.g. trace.person, flag.add, report.daily")
    detail: dict[str, Any] = Field(description="what was done or asked, as the action recorded it")


@health_router.get("/health", response_model=HealthOut)
def health(s: Settings) -> HealthOut:
    return HealthOut(ok=True, time=s.clock().isoformat())


@router.get("/audit", response_model=list[AuditEntryOut])
def audit_log(
    who: Admin,
    db: Db,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before_id: int | None = None,
) -> list[AuditEntryOut]:
    """Who did or looked up what, newest first; `before_id` pages back."""
    rows = audit.audit_entries(db, action_prefix=action, limit=limit, before_id=before_id)
    return [AuditEntryOut.model_validate(r) for r in rows]
