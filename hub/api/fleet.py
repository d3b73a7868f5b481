"""The fleet: each kiosk's state as the hub knows it (hub/fleet.py), for the dashboard and scripts."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hub.api.deps import API, Db, Settings, Viewer
from hub.api.shapes import Timestamp
from hub.fleet import fleet_view

router = APIRouter(prefix=API, tags=["fleet"])


class KioskOut(BaseModel):
    """One kiosk. Fields marked (claimed) are what its last status message said: hub/fleet.py reads the stored
    status back through its wire contract (wire/status.py), so a status that breaks it shows as unknown,
    its fields null, never as whatever the kiosk sent."""

    kiosk_id: str
    checkpoint_id: str | None = Field(
        description="the hub's assignment, else the checkpoint the kiosk claims (see `assigned`)"
    )
    zone: str | None = Field(description="the assignment's zone")
    assigned: bool
    claimed_checkpoint_id: str | None = Field(description="(claimed)")
    wrong_claims: int | None = Field(description="passages it sent claiming another checkpoint")
    mode: str | None = Field(description="(claimed)")
    state: str = Field(description="(claimed) online | offline | ...; unknown before any status")
    online: bool = Field(description="its last status said online")
    stale: bool = Field(description="not heard from (status or events) within the hub's stale_after_s")
    last_heard: Timestamp | None
    last_heard_age_s: float | None
    last_seq: int | None = Field(description="the last event sequence number stored from it")
    software: str | None = Field(description="(claimed) its software version")
    flags_version: int | None = Field(description="(claimed)")
    trust_version: int | None = Field(description="(claimed)")
    backlog: int | None = Field(description="(claimed) events not yet acked by the hub")
    clock_trusted: bool | None = Field(description="(claimed)")
    clock_reason: str | None = Field(description="(claimed)")
    resync_wanted: bool | None = Field(description="(claimed)")
    flags_state: str | None = Field(description="(claimed) verified | behind | resyncing | unverified")
    flags_mismatch: str | None = Field(description="(claimed)")
    hub_keys: list[str] | None = Field(description="(claimed) key ids of the hub keys it trusts")
    updates_rejected: int | None = Field(description="(claimed)")


@router.get("/kiosks", response_model=list[KioskOut])
def kiosks(who: Viewer, db: Db, s: Settings) -> list[KioskOut]:
    rows = fleet_view(db, now=s.clock(), stale_after_s=s.stale_after_s)
    return [KioskOut.model_validate(r) for r in rows]
