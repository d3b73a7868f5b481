"""The fleet: each kiosk's state as the hub knows it (hub/fleet.py), for the dashboard and scripts."""

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from hub.api.deps import API, Db, Settings, Viewer
from hub.api.shapes import Timestamp
from hub.fleet import fleet_view

router = APIRouter(prefix=API, tags=["fleet"])

T = TypeVar("T")


def _claimed_or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A field a kiosk's status message claims: shown when it has the documented type, else null.

    The status is the kiosk's own JSON (bounded by hub/fleet.py's clean_status, not typed): a kiosk that
    sends `"backlog": "many"` gets null there, where before the answer carried whatever it sent and the
    API's schema could not say what a client reads.
    """
    try:
        return handler(value)
    except ValidationError:
        return None


# strict: a claimed value is shown as sent or not at all (no "5" -> 5, no 1 -> true)
Claimed = Annotated[T | None, Field(strict=True), WrapValidator(_claimed_or_none)]


def _state_or_unknown(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    result = _claimed_or_none(value, handler)
    return "unknown" if result is None else result


class KioskOut(BaseModel):
    """One kiosk. Fields marked (claimed) are what its last status message said."""

    kiosk_id: str
    checkpoint_id: Claimed[str] = Field(
        description="the hub's assignment, else the checkpoint the kiosk claims (see `assigned`)"
    )
    zone: str | None = Field(description="the assignment's zone")
    assigned: bool
    claimed_checkpoint_id: Claimed[str] = Field(description="(claimed)")
    wrong_claims: int | None = Field(description="passages it sent claiming another checkpoint")
    mode: Claimed[str] = Field(description="(claimed)")
    state: Annotated[str, Field(strict=True), WrapValidator(_state_or_unknown)] = Field(
        description="(claimed) online | offline | ...; unknown before any status"
    )
    online: bool = Field(description="its last status said online")
    stale: bool = Field(description="not heard from (status or events) within the hub's stale_after_s")
    last_heard: Timestamp | None
    last_heard_age_s: float | None
    last_seq: int | None = Field(description="the last event sequence number stored from it")
    software: Claimed[str] = Field(description="(claimed) its software version")
    flags_version: Claimed[int] = Field(description="(claimed)")
    trust_version: Claimed[int] = Field(description="(claimed)")
    backlog: Claimed[int] = Field(description="(claimed) events not yet acked by the hub")
    clock_trusted: Claimed[bool] = Field(description="(claimed)")
    clock_reason: Claimed[str] = Field(description="(claimed)")
    resync_wanted: Claimed[bool] = Field(description="(claimed)")
    flags_state: Claimed[str] = Field(description="(claimed) verified | behind | resyncing | unverified")
    flags_mismatch: Claimed[str] = Field(description="(claimed)")
    hub_keys: Claimed[list[str]] = Field(description="(claimed) key ids of the hub keys it trusts")
    updates_rejected: Claimed[int] = Field(description="(claimed)")


@router.get("/kiosks", response_model=list[KioskOut])
def kiosks(who: Viewer, db: Db, s: Settings) -> list[KioskOut]:
    rows = fleet_view(db, now=s.clock(), stale_after_s=s.stale_after_s)
    return [KioskOut.model_validate(r) for r in rows]
