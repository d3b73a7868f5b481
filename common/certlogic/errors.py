"""The one exception of the CertLogic package."""

from __future__ import annotations

from collections.abc import Iterable


class CertLogicError(ValueError):
    """An invalid CertLogic expression, or a type mismatch found while evaluating a valid one.

    The specification makes a valid expression evaluate without error on well-typed data and has
    the evaluator *throw* on everything else; callers evaluating a validation rule treat this
    exception as "rule not satisfied" (a DENY), never as a crash. `problems` lists every problem
    the validator found when the expression itself is invalid (empty for evaluation errors).
    """

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems)
