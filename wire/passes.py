"""Our signed checkpoint pass (formats.md §4): `VNP1:` + Base45( COSE_Sign1( CWT claims ) ).

Same family as HC1 so one verifier serves both, minus zlib: a pass is ~150 bytes of CBOR and
compressing it gains nothing while adding a decompression step to attack. It fits a version 7-8
QR (alphanumeric mode) so a phone screen or a small print scans at once.

CWT claims (integer keys keep it small):
    1 iss (text)   6 iat (int, epoch s)   4 exp (int, epoch s)   7 cti = pass id (8-16 bytes)
    -70001 -> {1: 12-digit id (text), 2: name (text), 3: dob "YYYY-MM-DD",
               4: scope (optional) {1: [zone, ...], 2: [[from_min, to_min], ...], 3: plate}}
Time windows are minutes of the local day (0..1440); `from > to` crosses midnight.
Signed with Ed25519 (COSE alg -8) or ES256 (-7); `kid` (protected header) = first 8 bytes of
SHA-256 of the issuer key's SubjectPublicKeyInfo DER.

Stricter than HCERT on purpose: we mint every pass ourselves, so there is no foreign issuer to
interoperate with. A pass must carry COSE tag 18 and integer iat/exp (HC1 also accepts untagged
COSE and float times, wire/cose.py); the signature header rules are the shared ones.

Defined once here: imported by provisioning/issuer.py (minting) and kiosk/verify (checking).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import base45

from wire.cose import CWT_CTI, CWT_EXP, CWT_IAT, CWT_ISS, CoseFormatError, loads_bounded
from wire.identity import PERSON_ID

PREFIX = "VNP1:"
CLAIM_PASS = -70001  # private-use CWT claim (< -65536) holding the pass body
MAX_PASS_TEXT = 2048  # a pass is far smaller; bounds Base45 work on hostile input

_ID_RE = PERSON_ID
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class PassFormatError(ValueError):
    """A pass that does not follow this format; `reason` is a reason code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PassScope:
    """Where and when a pass may be used (empty tuples mean unrestricted)."""

    zones: tuple[str, ...] = ()
    windows: tuple[tuple[int, int], ...] = ()  # minutes of the local day
    plate: str | None = None

    def is_empty(self) -> bool:
        return not self.zones and not self.windows and self.plate is None


@dataclass(frozen=True, slots=True)
class PassClaims:
    issuer: str
    iat: int
    exp: int
    pass_id: bytes
    id_number: str
    name: str
    dob: str
    scope: PassScope = PassScope()

    @property
    def pass_id_hex(self) -> str:
        return self.pass_id.hex()


def encode_claims(claims: PassClaims) -> dict[int, object]:
    """The CWT claims map for a pass (validated: refuses to mint what a kiosk would reject)."""
    _check(claims)
    body: dict[int, object] = {1: claims.id_number, 2: claims.name, 3: claims.dob}
    if not claims.scope.is_empty():
        scope: dict[int, object] = {}
        if claims.scope.zones:
            scope[1] = list(claims.scope.zones)
        if claims.scope.windows:
            scope[2] = [list(w) for w in claims.scope.windows]
        if claims.scope.plate is not None:
            scope[3] = claims.scope.plate
        body[4] = scope
    return {
        CWT_ISS: claims.issuer,
        CWT_IAT: claims.iat,
        CWT_EXP: claims.exp,
        CWT_CTI: claims.pass_id,
        CLAIM_PASS: body,
    }


def decode_claims(payload: bytes) -> PassClaims:
    """Parse and strictly validate a pass's CWT claims (raises PassFormatError)."""
    try:
        raw = loads_bounded(payload)
    except CoseFormatError as exc:
        raise PassFormatError(exc.reason) from exc
    if not isinstance(raw, Mapping):
        raise PassFormatError("pass_claims_invalid")
    body = raw.get(CLAIM_PASS)
    if not isinstance(body, Mapping):
        raise PassFormatError("pass_claims_invalid")
    scope_raw = body.get(4, {})
    if not isinstance(scope_raw, Mapping):
        raise PassFormatError("pass_scope_invalid")
    zones = scope_raw.get(1, [])
    windows = scope_raw.get(2, [])
    if not isinstance(zones, list | tuple) or not isinstance(windows, list | tuple):
        raise PassFormatError("pass_scope_invalid")
    try:
        parsed_windows = tuple((w[0], w[1]) for w in windows if isinstance(w, list | tuple) and len(w) == 2)
    except (TypeError, IndexError) as exc:
        raise PassFormatError("pass_scope_invalid") from exc
    if len(parsed_windows) != len(windows):
        raise PassFormatError("pass_scope_invalid")
    claims = PassClaims(
        issuer=_claim(raw, CWT_ISS),
        iat=_claim(raw, CWT_IAT),
        exp=_claim(raw, CWT_EXP),
        pass_id=_claim(raw, CWT_CTI),
        id_number=_claim(body, 1),
        name=_claim(body, 2),
        dob=_claim(body, 3),
        scope=PassScope(tuple(zones), parsed_windows, scope_raw.get(3)),
    )
    _check(claims)
    return claims


def _claim(claims: Mapping[Any, Any], key: int) -> Any:
    """A claim as decoded, of whatever type it came in (None when absent): `_check` refuses any that is
    not of its declared type, so a PassClaims is only ever returned typed as it says."""
    return claims.get(key)


def _check(c: PassClaims) -> None:
    """Strict validation shared by minting and verification: types, sizes, real dates."""
    if not (isinstance(c.issuer, str) and 0 < len(c.issuer) <= 64):
        raise PassFormatError("pass_issuer_invalid")
    if type(c.iat) is not int or type(c.exp) is not int or not 0 <= c.iat < c.exp < 2**40:
        raise PassFormatError("pass_times_invalid")
    if not (isinstance(c.pass_id, bytes) and 8 <= len(c.pass_id) <= 16):
        raise PassFormatError("pass_id_invalid")
    if not (isinstance(c.id_number, str) and _ID_RE.fullmatch(c.id_number)):
        raise PassFormatError("pass_subject_invalid")
    if not (isinstance(c.name, str) and 0 < len(c.name) <= 80):
        raise PassFormatError("pass_subject_invalid")
    if not (isinstance(c.dob, str) and _DATE_RE.fullmatch(c.dob) and _real_date(c.dob)):
        raise PassFormatError("pass_subject_invalid")
    s = c.scope
    if len(s.zones) > 16 or not all(isinstance(z, str) and 0 < len(z) <= 32 for z in s.zones):
        raise PassFormatError("pass_scope_invalid")
    if len(s.windows) > 8 or not all(
        type(a) is int and type(b) is int and 0 <= a <= 1440 and 0 <= b <= 1440 and a != b
        for a, b in s.windows
    ):
        raise PassFormatError("pass_scope_invalid")
    if s.plate is not None and not (isinstance(s.plate, str) and 0 < len(s.plate) <= 16):
        raise PassFormatError("pass_scope_invalid")


def _real_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def to_text(cose: bytes) -> str:
    """The QR text of a pass."""
    encoded: bytes = base45.b45encode(cose)  # base45 has no annotations
    return PREFIX + encoded.decode("ascii")


def is_pass_text(raw: bytes) -> bool:
    return raw.startswith(PREFIX.encode("ascii"))


def from_text(raw: bytes) -> bytes:
    """Strip the prefix and Base45-decode. Raises PassFormatError('prefix'|'base45' reasons)."""
    if not is_pass_text(raw):
        raise PassFormatError("prefix_invalid")
    if len(raw) > MAX_PASS_TEXT:
        raise PassFormatError("payload_too_large")
    body = raw[len(PREFIX) :]
    try:
        decoded: bytes = base45.b45decode(body.decode("ascii"))  # base45 has no annotations
        return decoded
    except (ValueError, UnicodeDecodeError) as exc:
        raise PassFormatError("base45_invalid") from exc
