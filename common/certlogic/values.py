"""CertLogic's view of values: truthy/falsy/neither, integers, strict equality, and the work budget.

Values are JSON values as Python decodes them (dict, list, str, int, float, bool, None) plus the
`DateTime` that `plusTime`/`dccDateOfBirth` produce. A float with an integral value counts as an
integer (JSON, and so every JavaScript implementation, cannot tell `2.0` from `2`; some DCC issuers
encode CBOR numbers as floats). Anything else ("non-JSON" values: bytes, tuples, sets, objects) is
opaque: `var` can return it, every operation that must look at it raises `CertLogicError`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from common.certlogic.dates import DateTime
from common.certlogic.errors import CertLogicError

# Work allowed to one top-level evaluation inside `reduce` lambdas and deep equality comparisons,
# in node evaluations / visited nodes. A DCC's arrays have a handful of entries; a hostile rule that
# nests reductions or compares self-similar structures built by them stops here instead of hanging.
MAX_STEPS = 1_000_000
# A node visited by a deep comparison costs about four node evaluations of a lambda: charged so.
EQUALITY_STEP_COST = 4
# JavaScript integers are exact up to 2**53 - 1; `+` beyond that is an error (and no reduction can
# grow numbers to millions of digits).
MAX_SAFE_INTEGER = 2**53 - 1

_budget = threading.local()


def reset_budget() -> None:
    _budget.left = MAX_STEPS


def charge(steps: int, where: str) -> None:
    """Take `steps` from the current evaluation's budget, or raise when it is exhausted."""
    left = getattr(_budget, "left", MAX_STEPS) - steps
    if left < 0:
        raise CertLogicError(f"{where}: evaluation exceeds its budget of {MAX_STEPS} steps")
    _budget.left = left


def describe(value: Any) -> str:
    """A short rendering of a value for error messages (JSON where possible)."""
    if isinstance(value, DateTime):
        return f"date-time {value.isoformat()}"
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def js_string(value: Any) -> str:
    """Roughly JavaScript's template-string rendering (the reference validator's messages use it)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value if len(value) <= 80 else value[:77] + "..."
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() else repr(value)
    return describe(value)


def is_int(value: Any) -> bool:
    """An integer in CertLogic's sense: int (not bool), or a float with an integral value."""
    if isinstance(value, int):
        return not isinstance(value, bool)
    return isinstance(value, float) and value.is_integer()


def as_int(value: Any, where: str, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise CertLogicError(f"{where}: {what} must be of integer type, but got {describe(value)}")


def truthy(value: Any, where: str) -> bool:
    """True for truthy, False for falsy, `CertLogicError` for the values that are neither.

    Falsy: false, null, "", 0, [], {}. Truthy: true, non-empty strings, non-zero integers,
    non-empty arrays and objects. Neither: date-times, non-integer numbers, non-JSON values.
    """
    if value is True:
        return True
    if value is False or value is None:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    if is_int(value):
        return bool(value != 0)
    raise CertLogicError(f"{where}: {describe(value)} is neither truthy nor falsy")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, DateTime):
        return "date-time"
    return ""


def strict_eq(left: Any, right: Any, where: str) -> bool:
    """`===` without type coercion: 1 is not "1" nor true; arrays and objects compare deeply.

    (The specification only promises this on strings and integers; deep equality is what the
    Kotlin implementation does, and the least surprising.) Iterative and budgeted: neither a deeply
    nested value nor a self-similar one built by `reduce` can blow the stack or run for long.
    """
    stack = [(left, right)]
    visited = 0
    try:
        while stack:
            a, b = stack.pop()
            ta = type(a)
            if ta is not type(b) or not (ta is str or ta is int or ta is bool or ta is list or ta is dict):
                # Subclasses, int vs float, null, date-times, non-JSON values: the careful way.
                ka, kb = _kind(a), _kind(b)
                if not ka or not kb:
                    bad = a if not ka else b
                    raise CertLogicError(
                        f"{where}: cannot compare a non-JSON value of type {type(bad).__name__}"
                    )
                if ka != kb:
                    return False
                if ka == "array":
                    ta = list
                elif ka == "object":
                    ta = dict
                elif a != b:
                    return False
                else:
                    continue
            if ta is list:
                if len(a) != len(b):
                    return False
                visited += len(a)
                stack.extend(zip(a, b, strict=True))
            elif ta is dict:
                if len(a) != len(b) or a.keys() != b.keys():
                    return False
                visited += len(a)
                stack.extend((a[k], b[k]) for k in a)
            elif a != b:
                return False
            if visited > 4096:
                steps, visited = visited * EQUALITY_STEP_COST, 0
                charge(steps, where)
        return True
    finally:
        if visited:
            charge(visited * EQUALITY_STEP_COST, where)
