"""Our signed checkpoint pass (`VNP1:`): decoding steps. The format is wire/passes.py; the
signature and validity steps are the ones HC1 uses (signed.py)."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.verify.signed import STEP_BASE45, STEP_CBOR, STEP_PREFIX, StepFailure
from kiosk.verify.verdict import Subject
from wire import passes
from wire.cose import CoseFormatError, Sign1, decode_sign1
from wire.passes import PassClaims, PassFormatError


@dataclass(frozen=True, slots=True)
class CheckpointPass:
    sign1: Sign1
    claims: PassClaims

    def subject(self) -> Subject:
        return Subject(self.claims.id_number, self.claims.name, self.claims.dob)


def decode_pass(raw: bytes) -> CheckpointPass:
    """prefix -> Base45 -> COSE_Sign1 -> claims; raises StepFailure naming the step."""
    try:
        cose = passes.from_text(raw)
    except PassFormatError as exc:
        step = STEP_BASE45 if exc.reason == "base45_invalid" else STEP_PREFIX
        raise StepFailure(step, exc.reason) from exc
    try:
        sign1 = decode_sign1(cose)
    except CoseFormatError as exc:
        raise StepFailure(STEP_CBOR, exc.reason) from exc
    try:
        claims = passes.decode_claims(sign1.payload)
    except PassFormatError as exc:
        raise StepFailure(STEP_CBOR, exc.reason) from exc
    return CheckpointPass(sign1, claims)
