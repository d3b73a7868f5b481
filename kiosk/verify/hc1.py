"""EU Digital COVID Certificate (`HC1:`) decoding, following the public HCERT specification.

Decoding steps (each fails on its own, with its step name): prefix, Base45, zlib (bounded: a
decompression bomb is a DENY, not an out-of-memory), CBOR / COSE_Sign1 / CWT structure. The
signature, key usage and validity steps are in signed.py and verifier.py (shared with passes);
the schema step is dcc_schema.py (only HC1 carries a DCC JSON document).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import base45

from kiosk.verify.signed import STEP_BASE45, STEP_CBOR, STEP_DECOMPRESS, STEP_PREFIX, StepFailure
from kiosk.verify.verdict import Subject
from wire.cose import CWT_EXP, CWT_IAT, CWT_ISS, CoseFormatError, Sign1, decode_claims, decode_sign1

PREFIX = b"HC1:"
MAX_HC1_TEXT = 8 * 1024  # a version-40 QR holds 4296 alphanumeric chars
MAX_DECOMPRESSED = 64 * 1024  # real DCCs are < 1 KiB of CBOR
CLAIM_HCERT = -260
HCERT_DCC = 1
TYPES = ("v", "t", "r")


@dataclass(frozen=True, slots=True)
class Hc1:
    sign1: Sign1
    iat: int
    exp: int
    dcc: Mapping[str, Any]
    issuer: str = ""  # CWT `iss`: the issuing country (HCERT), used by Invalidation rules

    @property
    def issuer_country(self) -> str:
        """The issuing country: CWT `iss`, else the certificate entry's country (`co`)."""
        return self.issuer if len(self.issuer) == 2 else self.country

    @property
    def cert_type(self) -> str | None:
        present = [t for t in TYPES if t in self.dcc]
        return present[0] if len(present) == 1 else None

    def entry(self) -> Mapping[str, Any]:
        t = self.cert_type
        items = self.dcc.get(t) if t else None
        if isinstance(items, list) and items and isinstance(items[0], Mapping):
            return items[0]
        return {}

    @property
    def uci(self) -> str:
        ci = self.entry().get("ci")
        return ci if isinstance(ci, str) else ""

    @property
    def country(self) -> str:
        co = self.entry().get("co")
        return co if isinstance(co, str) else ""

    def subject(self) -> Subject:
        nam = self.dcc.get("nam")
        name = None
        if isinstance(nam, Mapping):
            # family name first, as Vietnamese officers read names ("Nguyễn Văn An")
            parts = [nam.get("fn") or nam.get("fnt"), nam.get("gn") or nam.get("gnt")]
            name = " ".join(p for p in parts if isinstance(p, str) and p) or None
        dob = self.dcc.get("dob")
        return Subject(None, name, dob if isinstance(dob, str) else None)


def inflate_bounded(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    """zlib-decompress at most `limit` bytes; more is a bomb. Requires a complete zlib stream."""
    if len(data) < 2 or data[0] & 0x0F != 8 or ((data[0] << 8) | data[1]) % 31 != 0:
        raise StepFailure(STEP_DECOMPRESS, "decompress_missing")
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit)
    except zlib.error as exc:
        raise StepFailure(STEP_DECOMPRESS, "decompress_failed") from exc
    if d.unconsumed_tail:
        raise StepFailure(STEP_DECOMPRESS, "decompress_bomb")
    if not d.eof or d.unused_data:
        raise StepFailure(STEP_DECOMPRESS, "decompress_failed")
    return out


def decode_hc1(raw: bytes) -> Hc1:
    """Run the decoding steps up to the CWT claims. Raises StepFailure naming the failed step."""
    if not raw.startswith(PREFIX):
        raise StepFailure(STEP_PREFIX, "prefix_invalid")
    if len(raw) > MAX_HC1_TEXT:
        raise StepFailure(STEP_PREFIX, "payload_too_large")
    try:
        compressed = base45.b45decode(raw[len(PREFIX) :].decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise StepFailure(STEP_BASE45, "base45_invalid") from exc
    cose = inflate_bounded(compressed)
    try:
        sign1 = decode_sign1(cose, require_tag=False)  # HCERT: tag 18 is optional
        claims = decode_claims(sign1.payload)
    except CoseFormatError as exc:
        raise StepFailure(STEP_CBOR, exc.reason) from exc
    hcert = claims.get(CLAIM_HCERT)
    dcc = hcert.get(HCERT_DCC) if isinstance(hcert, Mapping) else None
    if not isinstance(dcc, Mapping):
        raise StepFailure(STEP_CBOR, "hcert_missing")
    iss = claims.get(CWT_ISS)
    return Hc1(sign1, claims[CWT_IAT], claims[CWT_EXP], dcc, iss if isinstance(iss, str) else "")
