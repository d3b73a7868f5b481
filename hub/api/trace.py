"""Traces: where a person passed, and who passed the same checkpoints near those times. Each query is
written to the audit log (hub/audit.py) before it runs."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub import audit
from hub.api.deps import API, Db, Op, Settings, aware
from hub.queries import Passage
from wire.identity import PERSON_ID_PATTERN

router = APIRouter(prefix=API, tags=["trace"])


class ContactOut(BaseModel):
    subject_id: str
    subject_name: str | None
    checkpoint_id: str
    their_passage: dt.datetime
    person_passage: dt.datetime
    gap_s: float


@router.get("/trace/person", response_model=list[Passage])
def trace_person(
    who: Op,
    db: Db,
    s: Settings,
    id: Annotated[str, Query(pattern=PERSON_ID_PATTERN, description="12-digit id number")],
    start: Annotated[dt.datetime, Query(alias="from")],
    end: Annotated[dt.datetime, Query(alias="to")],
) -> list[Passage]:
    """Where and when the person passed. Audited before it runs."""
    found = audit.audited_trace_person(db, id, aware(start), aware(end), actor=who.username, now=s.clock())
    return found  # the query's own dataclass is the response schema


@router.get("/trace/contacts", response_model=list[ContactOut])
def trace_contacts(
    who: Op,
    db: Db,
    s: Settings,
    id: Annotated[str, Query(pattern=PERSON_ID_PATTERN)],
    start: Annotated[dt.datetime, Query(alias="from")],
    end: Annotated[dt.datetime, Query(alias="to")],
    window_minutes: Annotated[float, Query(gt=0, le=24 * 60)] = 30,
) -> list[ContactOut]:
    """Who passed the same checkpoint within the window of the person's passages (F1 candidates)."""
    found = audit.audited_trace_contacts(
        db,
        id,
        aware(start),
        aware(end),
        dt.timedelta(minutes=window_minutes),
        actor=who.username,
        now=s.clock(),
    )
    return [ContactOut(**c.__dict__, gap_s=c.gap.total_seconds()) for c in found]
