"""Operators' flags: list, add, lift, and the changes that could not be sent to kiosks."""

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from hub.api.deps import API, Db, Op, Settings, aware
from hub.api.shapes import NOT_FOUND, Timestamp
from hub.flags import add_flag, flag_dead_letter_list, flag_list, lift_flag
from wire.identity import normalise_flag_target

router = APIRouter(prefix=API, tags=["flags"])


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


class FlagOut(BaseModel):
    """A target's latest flag change and whether it is in force now."""

    version: int = Field(description="the flag-list version of this change")
    target_kind: str = Field(description="person | pass")
    target: str
    status: str = Field(description="F0 | F1 | F2 | revoked")
    active: bool = Field(description="in force now: not lifted, started, not ended")
    lifted: bool
    starts_at: Timestamp
    ends_at: Timestamp | None
    source: str = Field(description="registry, or operator:<who> (an operator or cli:<os user>)")
    note: str | None


class FlagDeadLetterOut(BaseModel):
    """A flag change set aside because kiosks cannot be sent it: that flag is NOT in force at kiosks."""

    id: int
    source: str = Field(description="registry | publisher")
    version: int = Field(description="the registry's version, or the flag log's")
    reason: str
    body: str = Field(description="the change as JSON")
    created_at: Timestamp | None


@router.get("/flags", response_model=list[FlagOut])
def flags(
    who: Op,
    db: Db,
    s: Settings,
    search: Annotated[str | None, Query(max_length=128)] = None,
    include_inactive: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[FlagOut]:
    rows = flag_list(db, s.clock(), search=search, include_inactive=include_inactive, limit=limit)
    return [FlagOut.model_validate(r) for r in rows]


@router.post("/flags", response_model=FlagVersion, status_code=201)
def flags_add(body: FlagIn, who: Op, db: Db, s: Settings) -> FlagVersion:
    now = s.clock()
    try:
        version = add_flag(
            db,
            body.target,
            body.status,
            starts_at=aware(body.starts_at) if body.starts_at else now,
            ends_at=aware(body.ends_at) if body.ends_at else None,
            actor=who.username,
            now=now,
            target_kind=body.target_kind,
            note=body.note,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    s.on_flags_changed()
    return FlagVersion(version=version)


@router.post("/flags/lift", response_model=FlagVersion, responses=NOT_FOUND)
def flags_lift(body: LiftIn, who: Op, db: Db, s: Settings) -> FlagVersion:
    try:
        version = lift_flag(
            db, body.target, actor=who.username, now=s.clock(), target_kind=body.target_kind, note=body.note
        )
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    s.on_flags_changed()
    return FlagVersion(version=version)


@router.get("/flags/dead-letters", response_model=list[FlagDeadLetterOut])
def flags_dead_letters(who: Op, db: Db) -> list[FlagDeadLetterOut]:
    """Flag changes that cannot be sent to kiosks (set aside by the import or the publisher)."""
    return [FlagDeadLetterOut.model_validate(r) for r in flag_dead_letter_list(db)]
