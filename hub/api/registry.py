"""Batches the registry refused for good (dead letters): list them and put one back in the outbox."""

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from hub.api.deps import API, Admin, Db, Settings
from hub.api.shapes import NOT_FOUND, Problem, Timestamp
from hub.db import from_db_time
from hub.registry.forwarder import list_dead_letters, replay_dead_letter

router = APIRouter(prefix=API, tags=["registry"])


class DeadLetterOut(BaseModel):
    id: int
    event_ids: list[str]
    idempotency_key: str
    status_code: int = Field(description="the registry's HTTP answer")
    reason: str
    response_body: str
    created_at: Timestamp
    replayed_at: Timestamp | None


class Requeued(BaseModel):
    requeued: list[str] = Field(description="event ids back in the outbox")


def _with_zone(row: dict[str, Any]) -> dict[str, Any]:
    """The stored (naive UTC) times as ISO 8601 with their zone, like every other time the API gives.

    Before the response models they went out zoneless ("2026-11-20T01:00:00"), read as local time by
    a client in any zone but UTC.
    """
    out = dict(row)
    for name in ("created_at", "replayed_at"):
        at = from_db_time(row[name])
        out[name] = at.isoformat() if at else None
    return out


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(who: Admin, db: Db, include_replayed: bool = False) -> list[DeadLetterOut]:
    rows = list_dead_letters(db, include_replayed=include_replayed)
    return [DeadLetterOut.model_validate(_with_zone(r)) for r in rows]


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    response_model=Requeued,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "already replayed"}},
)
def dead_letter_replay(dead_letter_id: int, who: Admin, db: Db, s: Settings) -> Requeued:
    try:
        ids = replay_dead_letter(db, dead_letter_id, now=s.clock(), actor=who.username)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return Requeued(requeued=ids)
