"""The official CertLogic test suites (specification 1.3.3), one pytest case per assertion.

The suites are vendored in tests/data/certlogic/ (Apache-2.0). Assertions the suite itself marks
with the directive "skip" are still run, against what the specification says instead of the
suite's `expected` (see `spec_expectation`): nothing is silently left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.certlogic import CertLogicError, compile_expression, evaluate, validate, validation_issues

SUITES = Path(__file__).resolve().parent.parent / "data" / "certlogic"


def _load(folder: str) -> list[tuple[str, dict]]:
    return [(path.stem, json.loads(path.read_text())) for path in sorted((SUITES / folder).glob("*.json"))]


def _evaluation_params() -> list[Any]:
    params = []
    for stem, suite in _load("testSuite"):
        for ci, case in enumerate(suite["cases"]):
            for ai, assertion in enumerate(case["assertions"]):
                skipped = "skip" in (
                    suite.get("directive"),
                    case.get("directive"),
                    assertion.get("directive"),
                )
                expr = assertion.get("certLogicExpression", case.get("certLogicExpression"))
                params.append(
                    pytest.param(
                        stem,
                        expr,
                        assertion,
                        skipped,
                        id=f"{stem}/{ci}:{case['name']}/{ai}" + ("[suite-skip]" if skipped else ""),
                    )
                )
    return params


def _validation_params() -> list[Any]:
    params = []
    for stem, suite in _load("validation-testSuite"):
        for ci, case in enumerate(suite["cases"]):
            expr = case["certLogicExpression"]
            label = case.get("name") or json.dumps(expr)
            params.append(pytest.param(expr, case["issues"], id=f"{stem}/{ci}:{label}"))
    return params


EVALUATION = _evaluation_params()
VALIDATION = _validation_params()


def same_json(a: Any, b: Any) -> bool:
    """Equality that tells true from 1 and 1 from "1" (Python's == does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def spec_expectation(stem: str, data: Any) -> Any:
    """What the specification says for the assertions the suite marks "skip".

    - ins-with-nulls: `in` whose right-hand side is null. The spec: "operating on a non-array
      <operand 2> is considered an error" (the suite expects false, and skips it).
    - patched-reduce: the lambda reads `data.z`, a "data" key in its context that the spec only says
      CertLogic *may* add some day; today the context is {current, accumulator}, `data.z` is null,
      and the rule counts the null items of x.
    """
    if stem == "ins-with-nulls":
        return CertLogicError
    if stem == "patched-reduce":
        items = (data or {}).get("x") or []
        return sum(1 for item in items if item is None)
    raise AssertionError(f"no specification expectation for skipped assertions of {stem}")


@pytest.mark.parametrize(("stem", "expr", "assertion", "skipped"), EVALUATION)
def test_evaluation_assertion(stem: str, expr: Any, assertion: dict, skipped: bool) -> None:
    data = assertion["data"]
    expected = spec_expectation(stem, data) if skipped else assertion["expected"]
    if expected is CertLogicError:
        with pytest.raises(CertLogicError):
            evaluate(expr, data)
        with pytest.raises(CertLogicError):
            compile_expression(expr)(data)
        return
    result = evaluate(expr, data)
    assert same_json(result, expected), (
        f"{assertion.get('message', '')}: got {result!r}, expected {expected!r}"
    )
    compiled = compile_expression(expr)
    assert same_json(compiled(data), expected)
    assert same_json(compiled(data), expected), "a second run of one compiled evaluator differs"


@pytest.mark.parametrize(("expr", "issues"), VALIDATION)
def test_validation_case(expr: Any, issues: list[dict]) -> None:
    found = validation_issues(expr)
    assert [(issue.expr, issue.message) for issue in found] == [(i["expr"], i["message"]) for i in issues]
    # All the suite's problems are at the root: the readable form is the bare message.
    assert validate(expr) == [i["message"] for i in issues]
    if issues:
        with pytest.raises(CertLogicError) as raised:
            compile_expression(expr)
        assert raised.value.problems == [i["message"] for i in issues]
    else:
        compile_expression(expr)


def test_vendored_suites_are_complete() -> None:
    """The counts of the specification's suites: a lost file or case would fail here, not pass silently."""
    runnable = [p for p in EVALUATION if not p.values[3]]
    assert (len(EVALUATION), len(runnable), len(VALIDATION)) == (232, 218, 23)
    assert (SUITES / "LICENSE").read_text().lstrip().startswith("Apache License")
