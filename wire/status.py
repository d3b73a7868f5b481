"""A kiosk's status message (contracts.md, `checkpoint/v1/kiosks/{kiosk}/status`): one definition.

The kiosk publishes it retained (QoS 1) when it connects, every `status_interval_s`, and at once when
something the hub should act on changes; the broker publishes the kiosk's will, `"state": "offline"`,
when the connection dies. The hub records it for the fleet view and answers what it asks for: the flag
buckets (`resync_buckets`) and document chunks (`docs_wanted`) it lacks, and the hub's next signing key
when `hub_keys` does not list it yet.

Built in one place on the kiosk (kiosk/mqtt/link.py) and decoded in one place on the hub
(hub/flag_publisher.py hands it on to hub/fleet.py). Forward compatible: fields this version does not
know are kept as sent (`model_extra`) and every known field but `state` may be missing; a known field
with a value of the wrong type or out of its range refuses the whole message with a WireError naming it.
JSON on the wire is a flat object, unchanged from the untyped message it replaces (docs/wire.md).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wire.errors import WireError
from wire.events import INT64_MAX
from wire.flagdigest import NBUCKETS
from wire.topics import KIOSK_ID

MAX_STATUS_BYTES = 64 * 1024  # a kiosk's status is a few hundred bytes; a larger one is not parsed
MAX_REQUEST_ITEMS = 64  # buckets, chunks or keys listed in one status

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Version = Annotated[int, Field(ge=0, le=INT64_MAX)]
Bucket = Annotated[int, Field(ge=0, lt=NBUCKETS)]

ONLINE, OFFLINE = "online", "offline"


class ClockStatus(BaseModel):
    """Whether the kiosk trusts its clock, why, and the floor it will not go below."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)

    trusted: bool | None = None
    reason: str | None = None
    floor: str | None = None


CheckLevel = Literal["OK", "WARN", "FAIL"]
MAX_CHECKS = 32  # the doctor runs about ten checks


class ChecksStatus(BaseModel):
    """The kiosk's self-checks (`kiosk doctor`'s, judged live by the running service): the worst level,
    each check's level, and a line for each that is not OK."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)

    worst: CheckLevel | None = None
    levels: Annotated[dict[str, CheckLevel], Field(max_length=MAX_CHECKS)] | None = None
    problems: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=MAX_CHECKS)] | None = (
        None
    )


class KioskStatus(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)

    state: Literal["online", "offline"]
    kiosk_id: str | None = None
    version: str | None = None  # the kiosk's software
    at: str | None = None  # when the kiosk said it (its clock, RFC 3339)

    # What the kiosk has applied of what the hub sends down.
    flags_version: Version | None = None
    trust_version: Version | None = None
    rules_version: Version | None = None
    hub_keys: Annotated[list[str], Field(max_length=MAX_REQUEST_ITEMS)] | None = None

    # What the kiosk asks the hub for (kiosk/flagsync.py, kiosk/docsync.py).
    resync_wanted: bool | None = None
    flags_state: str | None = None  # verified | behind | resyncing | unverified
    resync_buckets: Annotated[list[Bucket], Field(max_length=MAX_REQUEST_ITEMS)] | None = None
    resync_buckets_left: Count | None = None
    flags_mismatch: str | None = None
    flags_digest: str | None = None
    docs_wanted: Annotated[dict[str, list[Count]], Field(max_length=4)] | None = None

    # Delivery and health.
    backlog: Count | None = None  # passages not yet acked by the hub
    store: dict[str, Any] | None = None
    updates_rejected: Count | None = None
    last_rejection: str | None = None
    callback_errors: Count | None = None
    loop_errors: Count | None = None

    # The kiosk service's own (kiosk/service.py status_fields).
    checkpoint_id: str | None = None
    mode: str | None = None
    camera: str | None = None
    camera_failures: Count | None = None
    camera_events: dict[str, Count] | None = None
    frames: Count | None = None
    decode_rate: Annotated[float, Field(ge=0)] | None = None
    passages: Count | None = None
    errors: Count | None = None
    clock: ClockStatus | None = None
    flags_loaded: Count | None = None
    rules_loaded: Count | None = None
    trust: dict[str, Any] | None = None
    checks: ChecksStatus | None = None

    @field_validator("kiosk_id")
    @classmethod
    def _kiosk_id(cls, value: str | None) -> str | None:
        if value is not None and not KIOSK_ID.fullmatch(value):
            raise ValueError("lower-case letters, digits and '-'")
        return value

    @field_validator("docs_wanted")
    @classmethod
    def _docs_wanted(cls, value: dict[str, list[int]] | None) -> dict[str, list[int]] | None:
        if value is not None and any(len(v) > MAX_REQUEST_ITEMS for v in value.values()):
            raise ValueError(f"at most {MAX_REQUEST_ITEMS} chunks per document")
        return value

    @property
    def online(self) -> bool:
        return self.state == ONLINE

    @classmethod
    def from_dict(cls, data: Any) -> KioskStatus:
        """The status in parsed JSON; WireError naming the first field that breaks the contract."""
        if not isinstance(data, dict):
            raise WireError("status must be a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise WireError(f"status: {_first_error(exc)}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the fields that were given (None included), unknown fields as received."""
        return self.model_dump(mode="json", exclude_unset=True)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def decode_status(payload: bytes | bytearray) -> KioskStatus:
    """A status message off the wire; WireError if it is too big, not JSON or breaks the contract."""
    if len(payload) > MAX_STATUS_BYTES:
        raise WireError(f"status of {len(payload)} bytes exceeds {MAX_STATUS_BYTES}")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, absurd numbers or nesting
        raise WireError(f"status is not JSON: {str(exc)[:200]}") from None
    return KioskStatus.from_dict(data)


def encode_status(status: KioskStatus) -> bytes:
    return status.to_json()


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "status"
    return f"{where}: {error['msg']}"
