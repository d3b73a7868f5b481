"""PC-Covid / national personal QR (2021): `SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT`.

Identity only, unsigned. The document number may have its first 6 characters masked with `*`:
such a code cannot be matched against flags, which the verifier must say out loud.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.verify.identity import (
    MAX_IDENTITY_BYTES,
    IdentityParseError,
    decode_text,
    iso_date,
    refuse_unsafe_characters,
)
from wire.identity import is_person_id

FIELDS = 6
_DOC = re.compile(r"[0-9A-Z*]{6,20}")
_NAME = re.compile(r"[A-Z][A-Z ]{0,99}")
_DOB = re.compile(r"[0-9*]{4}-[0-9*]{2}-[0-9*]{2}")
_QID = re.compile(r"[0-9]{18}")


@dataclass(frozen=True, slots=True)
class PcCovid:
    document: str  # as printed, possibly masked
    id_number: str | None  # the 12-digit id when present and unmasked
    name: str
    dob: str  # ISO when complete, else as printed (masked)
    declared_by_other: bool
    qid: str
    ext: tuple[str, ...]

    @property
    def masked(self) -> bool:
        return "*" in self.document


def looks_like_pccovid(text: str) -> bool:
    parts = text.strip().split("|")
    return len(parts) == FIELDS and parts[3] in ("0", "1")


def parse_pccovid(raw: bytes) -> PcCovid:
    """Parse and validate; raises IdentityParseError('malformed_pccovid', detail)."""
    if len(raw) > MAX_IDENTITY_BYTES:
        raise IdentityParseError("payload_too_large")
    text = decode_text(raw)
    if text is None:
        raise IdentityParseError("malformed_pccovid", "not UTF-8")
    parts = text.strip().split("|")
    if len(parts) != FIELDS:
        raise IdentityParseError("malformed_pccovid", f"{len(parts)} fields")
    refuse_unsafe_characters(parts)
    doc, name, dob_raw, kind, qid, ext = parts
    if not _DOC.fullmatch(doc) or ("*" in doc and doc[6:].count("*")) or doc.strip("*") == "":
        raise IdentityParseError("malformed_pccovid", "document number")
    if not _NAME.fullmatch(name.strip()):
        raise IdentityParseError("malformed_pccovid", "name")
    if not _DOB.fullmatch(dob_raw):
        raise IdentityParseError("malformed_pccovid", "dob")
    dob = dob_raw
    if "*" not in dob_raw:
        checked = iso_date(dob_raw)
        if checked is None:
            raise IdentityParseError("malformed_pccovid", "dob")
        dob = checked
    if kind not in ("0", "1"):
        raise IdentityParseError("malformed_pccovid", "LoaiDinhDanh")
    if not _QID.fullmatch(qid):
        raise IdentityParseError("malformed_pccovid", "QID")
    ext_parts = tuple(ext.split("<"))
    if len(ext_parts) > 5 or len(ext) > 200:
        raise IdentityParseError("malformed_pccovid", "EXT")
    id_number = doc if is_person_id(doc) else None
    return PcCovid(doc, id_number, name.strip(), dob, kind == "1", qid, ext_parts)
