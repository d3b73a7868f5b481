"""Compile a CertLogic expression once into nested Python closures, then evaluate it many times.

A kiosk evaluates about ten rules per certificate at over 1,000 certificates/s, so the expression
tree is validated and turned into closures once: evaluation does no dictionary dispatch, no operand
counting and no re-validation per node, only the type checks the specification requires on values.
Semantics follow the CertLogic specification 1.3.3 (see `common/certlogic/__init__.py`).
"""

from __future__ import annotations

import operator as _op
import re
from collections.abc import Callable
from typing import Any

from common.certlogic.dates import DateTime, dcc_date_of_birth, plus_time
from common.certlogic.errors import CertLogicError
from common.certlogic.validator import is_literal, validation_issues
from common.certlogic.values import (
    MAX_SAFE_INTEGER,
    as_int,
    charge,
    describe,
    reset_budget,
    strict_eq,
    truthy,
)

Evaluator = Callable[[Any], Any]

_COMPARE = {"<": _op.lt, ">": _op.gt, "<=": _op.le, ">=": _op.ge}
_DATE_COMPARE = {"before": _op.lt, "after": _op.gt, "not-after": _op.le, "not-before": _op.ge}
_UVCI_SEPARATORS = re.compile(r"[/#:]")
_UVCI_PREFIX = "URN:UVCI:"
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# Stands for a boolean inside the hash set of an `in` over a literal array (True == 1 in Python).
_BOOL_KEY = object()


def _where(pointer: str) -> str:
    return f"at {pointer or '/'}"


def _literal_value(expr: Any) -> Any:
    return int(expr) if isinstance(expr, float) else expr


def _is_scalar_array(expr: Any) -> bool:
    return isinstance(expr, list) and all(is_literal(item) for item in expr)


class _Compiler:
    """Turns a *validated* expression into closures (it relies on the validator for the form)."""

    def __init__(self) -> None:
        self.nodes = 0  # running count of compiled nodes: the difference over a lambda is its cost per item

    def compile(self, expr: Any, pointer: str) -> Evaluator:
        self.nodes += 1
        if is_literal(expr):
            value = _literal_value(expr)
            return lambda data: value
        if isinstance(expr, list):
            if _is_scalar_array(expr):
                items = [_literal_value(item) for item in expr]
                return lambda data: items.copy()  # a fresh list: callers may mutate results
            fns = [self.compile(item, f"{pointer}/{i}") for i, item in enumerate(expr)]
            return lambda data: [fn(data) for fn in fns]
        ((operator, values),) = expr.items()
        here = f"{pointer}/{operator.replace('~', '~0').replace('/', '~1')}"
        if operator == "var":
            return self.var(values)
        if operator == "if":
            return self.if_(values, here)
        if operator == "and":
            return self.and_(values, here)
        if operator == "===":
            return self.equals(values, here)
        if operator == "in":
            return self.in_(values, here)
        if operator == "+":
            return self.plus(values, here)
        if operator in _COMPARE:
            return self.compare(values, here, _COMPARE[operator], int_operands=True)
        if operator in _DATE_COMPARE:
            return self.compare(values, here, _DATE_COMPARE[operator], int_operands=False)
        if operator == "!":
            return self.not_(values, here)
        if operator == "plusTime":
            return self.plus_time(values, here)
        if operator == "reduce":
            return self.reduce(values, here)
        if operator == "extractFromUVCI":
            return self.extract_from_uvci(values, here)
        if operator == "dccDateOfBirth":
            return self.dcc_date_of_birth(values, here)
        raise CertLogicError(f'unrecognised operator: "{operator}"')  # unreachable after validation

    def operands(self, values: list[Any], here: str) -> list[Evaluator]:
        return [self.compile(value, f"{here}/{i}") for i, value in enumerate(values)]

    # -- data access ----------------------------------------------------------------------------

    def var(self, path: str) -> Evaluator:
        if path == "":
            return lambda data: data
        steps = [
            (fragment, int(fragment) if _DIGITS.fullmatch(fragment) else None) for fragment in path.split(".")
        ]
        if len(steps) == 1:
            ((key, index),) = steps

            def var1(data: Any) -> Any:
                if isinstance(data, dict):
                    return data.get(key)
                if index is not None and isinstance(data, list):
                    return data[index] if index < len(data) else None
                return None

            return var1

        def var_path(data: Any) -> Any:
            for key, index in steps:
                if isinstance(data, dict):
                    data = data.get(key)
                elif index is not None and isinstance(data, list):
                    data = data[index] if index < len(data) else None
                else:
                    return None
            return data

        return var_path

    # -- logic ----------------------------------------------------------------------------------

    def if_(self, values: list[Any], here: str) -> Evaluator:
        guard, then, otherwise = self.operands(values, here)
        where = f"{_where(here)}: if-guard"

        def if_(data: Any) -> Any:
            g = guard(data)
            if g is True:
                return then(data)
            if g is False or g is None:
                return otherwise(data)
            return then(data) if truthy(g, where) else otherwise(data)

        return if_

    def and_(self, values: list[Any], here: str) -> Evaluator:
        fns = self.operands(values, here)
        where = f"{_where(here)}: operand of and"
        if len(fns) == 2:
            first, second = fns

            def and2(data: Any) -> Any:
                v = first(data)
                if v is not True and (v is False or v is None or not truthy(v, where)):
                    return v
                v = second(data)
                if v is not True and v is not False and v is not None:
                    truthy(v, where)  # every operand must be truthy or falsy, the last one too
                return v

            return and2

        def and_n(data: Any) -> Any:
            v = True
            for fn in fns:
                v = fn(data)
                if v is not True and (v is False or v is None or not truthy(v, where)):
                    return v
            return v

        return and_n

    def not_(self, values: list[Any], here: str) -> Evaluator:
        (operand,) = self.operands(values, here)
        where = f"{_where(here)}: operand of !"

        def not_(data: Any) -> bool:
            v = operand(data)
            if v is True:
                return False
            if v is False or v is None:
                return True
            return not truthy(v, where)

        return not_

    # -- comparisons ----------------------------------------------------------------------------

    def equals(self, values: list[Any], here: str) -> Evaluator:
        left, right = self.operands(values, here)
        where = _where(here)

        def equals(data: Any) -> bool:
            a = left(data)
            b = right(data)
            ta = type(a)
            if ta is type(b) and (ta is str or ta is int):
                return bool(a == b)  # a and b are JSON values (Any): == gives Any to mypy
            return strict_eq(a, b, where)

        return equals

    def in_(self, values: list[Any], here: str) -> Evaluator:
        where = _where(here)
        needle_expr, haystack_expr = values
        needle = self.compile(needle_expr, f"{here}/0")
        if _is_scalar_array(haystack_expr):
            self.nodes += 1
            # Value lists written into the rule: one hash lookup instead of a scan.
            members = {(_BOOL_KEY, v) if isinstance(v, bool) else _literal_value(v) for v in haystack_expr}

            def in_literal(data: Any) -> bool:
                x = needle(data)
                t = type(x)
                if t is str or t is int or x is None:
                    return x in members
                if isinstance(x, bool):
                    return (_BOOL_KEY, x) in members
                if isinstance(x, (str, int)) or (isinstance(x, float) and x == x):
                    return x in members
                strict_eq(x, None, where)  # raises for a non-JSON value; any other value is no member
                return False

            return in_literal
        haystack = self.compile(haystack_expr, f"{here}/1")

        def in_(data: Any) -> bool:
            x = needle(data)
            items = haystack(data)
            if not isinstance(items, list):
                raise CertLogicError(
                    f'{where}: right-hand side of an "in" operation must be an array, '
                    f"but got {describe(items)}"
                )
            if type(x) is str or x is None:
                return x in items
            return any(strict_eq(x, item, where) for item in items)

        return in_

    def compare(
        self, values: list[Any], here: str, cmp: Callable[[Any, Any], bool], int_operands: bool
    ) -> Evaluator:
        fns = self.operands(values, here)
        where = _where(here)
        if int_operands:
            what = "every operand of a comparison operation"

            def check(v: Any) -> Any:
                return v if type(v) is int else as_int(v, where, what)

        else:

            def check(v: Any) -> Any:
                if type(v) is DateTime:
                    return v.ms
                raise CertLogicError(
                    f"{where}: all operands of a date-time comparison must be date-times, "
                    f"but got {describe(v)}"
                )

        if len(fns) == 2:
            left, right = fns

            def compare2(data: Any) -> bool:
                a = left(data)
                b = right(data)
                return cmp(check(a), check(b))

            return compare2
        first, second, third = fns

        def compare3(data: Any) -> bool:
            a = check(first(data))
            b = check(second(data))
            c = check(third(data))
            return cmp(a, b) and cmp(b, c)

        return compare3

    def plus(self, values: list[Any], here: str) -> Evaluator:
        left, right = self.operands(values, here)
        where = _where(here)
        what = 'every operand of "+"'

        def plus(data: Any) -> int:
            a = left(data)
            b = right(data)
            if type(a) is not int:
                a = as_int(a, where, what)
            if type(b) is not int:
                b = as_int(b, where, what)
            total = a + b
            if -MAX_SAFE_INTEGER <= total <= MAX_SAFE_INTEGER:
                return total
            raise CertLogicError(f"{where}: integer overflow ({total} is beyond ±(2**53 - 1))")

        return plus

    # -- date-times -----------------------------------------------------------------------------

    def plus_time(self, values: list[Any], here: str) -> Evaluator:
        operand = self.compile(values[0], f"{here}/0")
        self.nodes += 2
        amount = _literal_value(values[1])
        unit = values[2]
        where = _where(here)

        def plus_time_(data: Any) -> DateTime:
            text = operand(data)
            if type(text) is not str:
                if not isinstance(text, str):
                    raise CertLogicError(
                        f'{where}: date argument of "plusTime" must be a string, but got {describe(text)}'
                    )
                text = str(text)
            try:
                return plus_time(text, amount, unit)
            except CertLogicError as exc:
                raise CertLogicError(f"{where}: {exc}") from None

        return plus_time_

    def dcc_date_of_birth(self, values: list[Any], here: str) -> Evaluator:
        (operand,) = self.operands(values, here)
        where = _where(here)

        def dcc_date_of_birth_(data: Any) -> DateTime:
            text = operand(data)
            if not isinstance(text, str):
                raise CertLogicError(
                    f'{where}: operand of "dccDateOfBirth" must be a string, but got {describe(text)}'
                )
            try:
                return dcc_date_of_birth(str(text))
            except CertLogicError as exc:
                raise CertLogicError(f"{where}: {exc}") from None

        return dcc_date_of_birth_

    def extract_from_uvci(self, values: list[Any], here: str) -> Evaluator:
        operand = self.compile(values[0], f"{here}/0")
        self.nodes += 1
        index = _literal_value(values[1])
        # At most index + 1 splits: a hostile megabyte-long UCI is not cut into a million pieces.
        max_split = index + 1 if 0 <= index < 1_000_000 else 0
        where = _where(here)

        def extract_from_uvci(data: Any) -> str | None:
            uvci = operand(data)
            if uvci is None:
                return None
            if not isinstance(uvci, str):
                raise CertLogicError(
                    f'{where}: operand of "extractFromUVCI" must be a string or null, '
                    f"but got {describe(uvci)}"
                )
            if index < 0:
                return None
            text = str(uvci)
            if text.startswith(_UVCI_PREFIX):
                text = text[len(_UVCI_PREFIX) :]
            fragments = _UVCI_SEPARATORS.split(text, maxsplit=max_split)
            return fragments[index] if index < len(fragments) else None

        return extract_from_uvci

    # -- reduction ------------------------------------------------------------------------------

    def reduce(self, values: list[Any], here: str) -> Evaluator:
        operand = self.compile(values[0], f"{here}/0")
        before = self.nodes
        lambda_ = self.compile(values[1], f"{here}/1")
        cost = self.nodes - before  # node evaluations per item: charged to the evaluation's budget
        initial = self.compile(values[2], f"{here}/2")
        where = _where(here)

        def reduce_(data: Any) -> Any:
            items = operand(data)
            accumulator = initial(data)
            if items is None:
                return accumulator
            if not isinstance(items, list):
                raise CertLogicError(
                    f"{where}: operand of reduce must be an array or null, but got {describe(items)}"
                )
            if items:
                charge(len(items) * cost, where)
            for current in items:
                accumulator = lambda_({"current": current, "accumulator": accumulator})
            return accumulator

        return reduce_


def compile_expression(expr: Any) -> Evaluator:
    """Validate `expr` once and return a fast `evaluate(data)` closure for it.

    Raises `CertLogicError` (with `.problems`, every problem the validator found) when `expr` is
    not a valid CertLogic expression. The closure raises `CertLogicError` on type mismatches in the
    data, exactly where `evaluate(expr, data)` would; it is safe to call from several threads.
    """
    issues = validation_issues(expr)
    if issues:
        problems = [str(issue) for issue in issues]
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise CertLogicError(f"invalid CertLogic expression: {shown}", problems)
    root = _Compiler().compile(expr, "")

    def evaluate_compiled(data: Any) -> Any:
        reset_budget()
        return root(data)

    return evaluate_compiled
