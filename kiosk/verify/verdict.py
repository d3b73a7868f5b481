"""The decision a kiosk shows and records: the one type every stage after `verify` speaks.

A verdict is data, not behaviour: the indicator turns `outcome` into a light, the store and the
wire turn the whole thing into a passage event. Keeping it a frozen value makes the hot path easy
to test and impossible to mutate by accident between "light shown" and "record written".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """What the light says. Values are the wire strings of contracts.md."""

    PASS = "PASS"  # green
    DENY = "DENY"  # red
    REVIEW = "REVIEW"  # amber: see the officer


class PayloadKind(StrEnum):
    """What kind of QR payload was shown (contracts.md `kind`; `manual` is officer-typed)."""

    PASS = "pass"
    HC1 = "hc1"
    CCCD = "cccd"
    PCCOVID = "pccovid"
    MANUAL = "manual"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who the code names. `id_number` is the 12-digit personal id when known and unmasked."""

    id_number: str | None
    name: str | None
    dob: str | None  # ISO 8601 date (YYYY-MM-DD) when fully known, else as printed

    def to_dict(self) -> dict[str, str | None]:
        return {"id_number": self.id_number, "name": self.name, "dob": self.dob}


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision with its machine-readable reasons and a human message in two languages."""

    outcome: Outcome
    kind: PayloadKind
    reasons: tuple[str, ...]
    message_vi: str
    message_en: str
    subject: Subject | None = None
    failed_step: str | None = None
    flags_version: int | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)
