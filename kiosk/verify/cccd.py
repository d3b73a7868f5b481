"""CCCD (chip-based citizen ID card) QR: `id|old_cmnd|name|dob|sex|address|issue_date[|extra...]`.

Identity only, never authentication: anyone can print a QR that parses as a CCCD. Parsing is
strict (12-digit id, real dates, Nam/Nữ) so a garbled or invented code is called malformed
instead of being waved through as a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.verify.identity import (
    MAX_IDENTITY_BYTES,
    IdentityParseError,
    ddmmyyyy,
    decode_text,
    refuse_unsafe_characters,
)
from wire.identity import CMND_ID, PERSON_ID

MIN_FIELDS = 7
MAX_FIELDS = 11  # mid-2024 cards add 4 trailing (usually empty) positions
_ID = PERSON_ID
_OLD_ID = re.compile(rf"(?:{CMND_ID.pattern}|{PERSON_ID.pattern})?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Cccd:
    id_number: str
    old_id: str | None
    name: str
    dob: str  # ISO
    sex: str
    address: str
    issue_date: str  # ISO
    extras: tuple[str, ...] = ()


def looks_like_cccd(text: str) -> bool:
    """Classification: pipe-separated with at least 7 fields. Validity is parse_cccd's job."""
    return text.count("|") >= MIN_FIELDS - 1


def parse_cccd(raw: bytes) -> Cccd:
    """Parse and validate; raises IdentityParseError('malformed_cccd', detail).

    A field with a control or text-direction character is refused as `control_characters`: the name
    is recorded and shown to operators (`hub trace contacts`), where an escape sequence would erase rows.
    """
    if len(raw) > MAX_IDENTITY_BYTES:
        raise IdentityParseError("payload_too_large")
    text = decode_text(raw)
    if text is None:
        raise IdentityParseError("malformed_cccd", "not UTF-8")
    fields = [f.strip() for f in text.strip().split("|")]
    if not MIN_FIELDS <= len(fields) <= MAX_FIELDS:
        raise IdentityParseError("malformed_cccd", f"{len(fields)} fields")
    refuse_unsafe_characters(fields)
    id_number, old_id, name, dob_raw, sex, address, issued_raw = fields[:7]
    if not _ID.fullmatch(id_number):
        raise IdentityParseError("malformed_cccd", "id is not 12 digits")
    if not _OLD_ID.fullmatch(old_id):
        raise IdentityParseError("malformed_cccd", "old id is not 9 or 12 digits")
    if not 0 < len(name) <= 100 or any(c.isdigit() for c in name):
        raise IdentityParseError("malformed_cccd", "name")
    dob = ddmmyyyy(dob_raw)
    issued = ddmmyyyy(issued_raw)
    if dob is None or issued is None or issued < dob:
        raise IdentityParseError("malformed_cccd", "dates")
    if sex not in ("Nam", "Nữ"):
        raise IdentityParseError("malformed_cccd", "sex")
    if len(address) > 300:
        raise IdentityParseError("malformed_cccd", "address")
    return Cccd(id_number, old_id or None, name, dob, sex, address, issued, tuple(fields[7:]))
