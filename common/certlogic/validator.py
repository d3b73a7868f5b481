"""The CertLogic validator: every problem of an expression's *form*, before anything is evaluated.

Messages are those of the reference validator (`certlogic-js/validation`, checked by the official
validation test suite); each problem also carries the JSON Pointer of the offending sub-expression.
One addition for hostile input: nesting deeper than `MAX_DEPTH` is a problem (no real rule comes
close: the EU's are about 10 deep), so that neither validation, compilation nor evaluation can
exhaust Python's stack, whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.certlogic.dates import TIME_UNITS
from common.certlogic.errors import CertLogicError
from common.certlogic.values import is_int, js_string

MAX_DEPTH = 64

INFIX_OPERATORS = frozenset(
    ("===", "and", ">", "<", ">=", "<=", "in", "+", "after", "before", "not-after", "not-before")
)
COMPARISON_OPERATORS = frozenset((">", "<", ">=", "<=", "after", "before", "not-after", "not-before"))


@dataclass(frozen=True)
class Issue:
    """One problem: the offending sub-expression, its JSON Pointer in the whole expression, and why."""

    expr: Any
    message: str
    pointer: str = ""

    def __str__(self) -> str:
        return f"{self.message} (at {self.pointer})" if self.pointer else self.message


def is_literal(expr: Any) -> bool:
    """A string, an integer (incl. an integral float: JSON's 42.0 is 42) or a boolean."""
    return isinstance(expr, (str, bool)) or is_int(expr)


def _token(key: Any) -> str:
    text = str(key)
    return text.replace("~", "~0").replace("/", "~1")


class _Validator:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, expr: Any, pointer: str, message: str) -> None:
        self.issues.append(Issue(expr, message, pointer))

    def check(self, expr: Any, pointer: str, depth: int) -> None:
        if is_literal(expr):
            return
        if depth > MAX_DEPTH:
            self.error(expr, pointer, f"expression nested deeper than {MAX_DEPTH} levels")
            return
        if isinstance(expr, (int, float)):
            self.error(expr, pointer, f"{js_string(expr)} is a non-integer number")
            return
        if isinstance(expr, list):
            for index, item in enumerate(expr):
                self.check(item, f"{pointer}/{index}", depth + 1)
            return
        if not isinstance(expr, dict):
            self.error(expr, pointer, "invalid CertLogic expression")
            return
        if len(expr) != 1:
            self.error(expr, pointer, f"expression object must have exactly one key, but it has {len(expr)}")
            return
        ((operator, values),) = expr.items()
        if operator == "var":
            self.check_var(expr, pointer, values)
            return
        if not isinstance(values, list):
            self.error(expr, pointer, 'operation not of the form { "<operator>": [ <values...> ] }')
            return
        here = f"{pointer}/{_token(operator)}"

        def operands(upto: int | None = None) -> None:
            for index, value in enumerate(values[:upto]):
                self.check(value, f"{here}/{index}", depth + 1)

        n = len(values)
        if operator == "if":
            if n != 3:
                self.error(
                    expr, pointer, f'an "if"-operation must have exactly 3 values/operands, but it has {n}'
                )
            operands(3)
        elif operator in INFIX_OPERATORS:
            if operator == "and":
                if n < 2:
                    self.error(
                        expr, pointer, f'an "and" operation must have at least 2 operands, but it has {n}'
                    )
                operands()
            elif operator in COMPARISON_OPERATORS:
                if not 2 <= n <= 3:
                    self.error(
                        expr,
                        pointer,
                        f'an operation with operator "{operator}" must have 2 or 3 operands, but it has {n}',
                    )
                operands(3)
            else:
                if n != 2:
                    self.error(
                        expr,
                        pointer,
                        f'an operation with operator "{operator}" must have 2 operands, but it has {n}',
                    )
                operands(2)
        elif operator == "!":
            if n != 1:
                self.error(
                    expr,
                    pointer,
                    f"a !-operation (logical not/negation) must have exactly 1 operand, but it has {n}",
                )
            else:
                operands(1)
        elif operator == "plusTime":
            if n != 3:
                self.error(
                    expr,
                    pointer,
                    f'a "plusTime"-operation must have exactly 3 values/operands, but it has {n}',
                )
            operands(1)
            if n > 1 and not is_int(values[1]):
                self.error(
                    expr,
                    pointer,
                    '"amount" argument (#2) of "plusTime" must be an integer, '
                    f"but it is: {js_string(values[1])}",
                )
            if n > 2 and values[2] not in TIME_UNITS:
                self.error(
                    expr,
                    pointer,
                    f'"unit" argument (#3) of "plusTime" must be a string equal to one of '
                    f"{', '.join(TIME_UNITS)}, but it is: {js_string(values[2])}",
                )
        elif operator == "reduce":
            if n != 3:
                self.error(
                    expr, pointer, f'a "reduce"-operation must have exactly 3 values/operands, but it has {n}'
                )
            operands(3)
        elif operator == "extractFromUVCI":
            if n != 2:
                self.error(
                    expr,
                    pointer,
                    f'an "extractFromUVCI"-operation must have exactly 2 values/operands, but it has {n}',
                )
            operands(1)
            if n > 1 and not is_int(values[1]):
                self.error(
                    expr,
                    pointer,
                    '"index" argument (#2) of "extractFromUVCI" must be an integer, '
                    f"but it is: {js_string(values[1])}",
                )
        elif operator == "dccDateOfBirth":
            if n != 1:
                self.error(
                    expr,
                    pointer,
                    f'a "dccDateOfBirth"-operation must have exactly 1 value/operand, but it has {n}',
                )
            operands(1)
        else:
            self.error(expr, pointer, f'unrecognised operator: "{js_string(operator)}"')

    def check_var(self, expr: dict[str, Any], pointer: str, path: Any) -> None:
        if not isinstance(path, str):
            self.error(expr, pointer, 'not of the form { "var": "<path>" }')
        elif path != "" and "" in path.split("."):
            self.error(expr, pointer, f"data access path doesn't have a valid format: {js_string(path)}")


def validation_issues(expr: Any) -> list[Issue]:
    """Every problem of `expr` as a CertLogic expression, in document order ([] when valid)."""
    validator = _Validator()
    validator.check(expr, "", 1)
    return validator.issues


def validate(expr: Any) -> list[str]:
    """Human-readable problems of `expr` as a CertLogic expression; [] when it is valid."""
    return [str(issue) for issue in validation_issues(expr)]


def data_accesses(expr: Any) -> list[str]:
    """The distinct `var` paths a valid expression reads from its data context, in document order.

    Lets a caller see what a rule depends on, e.g. whether it reads `external.validationClock`
    (a kiosk with an untrusted clock must not pass such a rule). A `reduce` lambda's paths are
    relative to its own context {current, accumulator}, so they are not listed (as in the
    reference implementation's `dataAccesses`). Raises `CertLogicError` on an invalid expression.
    """
    issues = validation_issues(expr)
    if issues:
        raise CertLogicError(f"invalid CertLogic expression: {issues[0]}", [str(issue) for issue in issues])
    found: dict[str, None] = {}
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            ((operator, values),) = node.items()
            if operator == "var":
                found.setdefault(values, None)
            elif operator == "reduce":
                stack.extend((values[2], values[0]))
            else:
                stack.extend(reversed(values))
    return list(found)
