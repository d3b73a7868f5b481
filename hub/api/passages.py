"""The newest passages, for watching the flow at a checkpoint: no names, id numbers masked."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub.api.deps import API, Db, Viewer
from hub.api.shapes import Timestamp
from hub.queries import recent_passages

router = APIRouter(prefix=API, tags=["passages"])


class PassageRow(BaseModel):
    event_id: str
    scanned_at: Timestamp
    checkpoint_id: str
    kiosk_id: str
    subject: str | None = Field(description="the id number's last 4 digits, the rest masked; null: no id")
    verdict: str = Field(description="PASS | DENY | REVIEW")
    reasons: list[str]


@router.get("/passages", response_model=list[PassageRow])
def passages(
    who: Viewer,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    checkpoint_id: str | None = None,
) -> list[PassageRow]:
    """Newest passages, names left out and id numbers masked (a trace shows them, audited)."""
    rows = recent_passages(db, limit=limit, checkpoint_id=checkpoint_id)
    return [PassageRow.model_validate(r) for r in rows]
