"""The fields of a pass as an operator types them (CLI options, CSV cells), checked with messages
that say what to fix. Checked again, strictly, by wire/passes.py when the pass is signed.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from dataclasses import dataclass

from provisioning.issuer import IssuerKey, mint_pass
from wire.passes import PassScope

MAX_VALID_DAYS = 3650


class PassFieldError(ValueError):
    """One bad field; the message names the field but never repeats its (personal) value."""


@dataclass(frozen=True)
class PassRequest:
    id_number: str
    name: str
    dob: str
    valid_days: int
    zones: tuple[str, ...] = ()
    plate: str | None = None


def check_fields(
    id_number: str,
    name: str,
    dob: str,
    valid_days: int | str,
    today: dt.date,
    zones: tuple[str, ...] | str = (),
    plate: str | None = None,
) -> PassRequest:
    id_number = id_number.strip()
    if not re.fullmatch(r"[0-9]{12}", id_number):
        raise PassFieldError("id must be exactly 12 digits")
    name = unicodedata.normalize("NFC", " ".join(name.split()))  # Vietnamese text arrives NFC or NFD
    if not name:
        raise PassFieldError("name is empty")
    if len(name) > 80:
        raise PassFieldError("name is longer than 80 characters")
    dob = dob.strip()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", dob):
            raise ValueError
        born = dt.date.fromisoformat(dob)
    except ValueError:
        raise PassFieldError("dob must be a real date written YYYY-MM-DD") from None
    if born > today or born.year < 1900:
        raise PassFieldError("dob is not a plausible date of birth")
    try:
        days = int(str(valid_days).strip())
    except ValueError:
        raise PassFieldError("valid_days must be a whole number of days") from None
    if not 1 <= days <= MAX_VALID_DAYS:
        raise PassFieldError(f"valid_days must be 1..{MAX_VALID_DAYS}")
    if isinstance(zones, str):
        zones = tuple(z.strip() for z in zones.split(";") if z.strip())
    if len(zones) > 16 or any(len(z) > 32 for z in zones):
        raise PassFieldError("zones: at most 16, each at most 32 characters")
    plate = plate.strip() if plate else None
    if plate is not None and len(plate) > 16:
        raise PassFieldError("plate is longer than 16 characters")
    return PassRequest(id_number, name, dob, days, tuple(zones), plate or None)


def mint_request(key: IssuerKey, request: PassRequest, valid_from: dt.datetime) -> tuple[str, bytes]:
    """The pass's QR text and its id (for revocation: the manifest keeps it)."""
    pass_id = secrets.token_bytes(8)
    text = mint_pass(
        key,
        id_number=request.id_number,
        name=request.name,
        dob=request.dob,
        valid_from=valid_from,
        valid_until=valid_from + dt.timedelta(days=request.valid_days),
        pass_id=pass_id,
        scope=PassScope(zones=request.zones, plate=request.plate),
    )
    return text, pass_id
