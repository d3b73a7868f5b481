"""CertLogic: the EU's rule language for the business rules of Digital COVID Certificates.

Implements the CertLogic specification 1.3.3 (`tests/data/certlogic/`, from
https://github.com/ehn-dcc-development/dgc-business-rules) and passes its official evaluation and
validation test suites. Public API:

    evaluate(expr, data)       the value of `expr` on the data context `data`
    validate(expr)             the validator's problems as readable strings, [] when valid
    compile_expression(expr)   validate once, return a fast `evaluator(data)` closure
    data_accesses(expr)        the `var` paths a rule reads (e.g. external.validationClock)

Every error, an invalid expression or a type mismatch in the data, is a `CertLogicError`; callers
evaluating a validation rule treat it as "not satisfied". Values are JSON values as Python decodes
them; `plusTime` and `dccDateOfBirth` produce `DateTime` values (instants in ms, compared by
`after`, `before`, `not-after`, `not-before`).

Choices where the specification leaves room (each covered by a test in tests/common/):
- Operations: exactly the specification's (`var if === and < > <= >= in + ! plusTime reduce
  extractFromUVCI dccDateOfBirth after before not-after not-before`); JsonLogic's `!==`, `or`,
  `!!` etc. are "unrecognised operator" errors, as in the reference implementations.
- `reduce` gives its lambda the data context {"current", "accumulator"} only (the suite's
  `patched-reduce.json`, which also passes the outer data as "data", is marked "skip" there).
- `in` on a right-hand side that is not an array (also null) is an error (the spec says so; the
  suite's null-tolerant assertions are marked "skip").
- `and` requires every operand, the last one too, to be truthy or falsy (the spec's wording).
- Dates that do not exist (2021-02-30, 24:00:00, offset +25:00) and strings outside the listed
  formats are errors (the spec leaves them undefined).
- `===` is strict (1 is neither "1" nor true); arrays and objects compare deeply; an integral
  float equals its integer (JSON cannot tell 2.0 from 2).
- Hostile input: nesting deeper than `MAX_DEPTH` (64) is a validation problem; work inside
  `reduce` and deep comparisons is bounded by `MAX_STEPS` per evaluation; `+` beyond 2**53 - 1 and
  date-times beyond the range of a JavaScript Date are errors. Nothing recurses on the data.
"""

from __future__ import annotations

from typing import Any

from common.certlogic.compiler import Evaluator, compile_expression
from common.certlogic.dates import DateTime
from common.certlogic.errors import CertLogicError
from common.certlogic.validator import MAX_DEPTH, Issue, data_accesses, validate, validation_issues
from common.certlogic.values import MAX_STEPS

SPECIFICATION_VERSION = "1.3.3"


def evaluate(expr: Any, data: Any) -> Any:
    """The value of the CertLogic expression `expr` on the data context `data`.

    The whole expression is validated first, as the specification requires (an invalid branch
    raises even when evaluation would not reach it). For repeated evaluation of one expression use
    `compile_expression`, which does the validation and preparation once.
    """
    return compile_expression(expr)(data)


__all__ = [
    "MAX_DEPTH",
    "MAX_STEPS",
    "SPECIFICATION_VERSION",
    "CertLogicError",
    "DateTime",
    "Evaluator",
    "Issue",
    "compile_expression",
    "data_accesses",
    "evaluate",
    "validate",
    "validation_issues",
]
