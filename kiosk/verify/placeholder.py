"""A clearly named stand-in for the verification stage, used only until offline verification lands.

It never lets anyone through: every code is REVIEW ("see the officer") with reason `not_verified`.
"""

from __future__ import annotations

from datetime import datetime

from kiosk.verify.verdict import Outcome, PayloadKind, Verdict


class UnverifiedDecider:
    def verify(self, raw: bytes, now: datetime, clock_trusted: bool = True) -> Verdict:
        return Verdict(
            outcome=Outcome.REVIEW,
            kind=PayloadKind.UNKNOWN,
            reasons=("not_verified",),
            message_vi="Chưa xác minh, vui lòng gặp cán bộ",
            message_en="Not verified, please see the officer",
        )
