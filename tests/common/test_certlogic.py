"""CertLogic edge cases the official suites do not cover: date-time formats and arithmetic, strict
types, non-JSON values, and hostile rules (deep nesting, huge amounts, runaway reductions)."""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import pytest

from common.certlogic import (
    MAX_DEPTH,
    MAX_STEPS,
    CertLogicError,
    DateTime,
    compile_expression,
    data_accesses,
    evaluate,
    validate,
)


def iso(expr: Any, data: Any = None) -> str:
    result = evaluate(expr, data)
    assert isinstance(result, DateTime)
    return result.isoformat()


def plus(text: str, amount: int = 0, unit: str = "day") -> str:
    return iso({"plusTime": [text, amount, unit]})


# -- date-times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021", "2021-12-31T00:00:00.000Z"),
        ("2021-02", "2021-02-28T00:00:00.000Z"),
        ("2024-02", "2024-02-29T00:00:00.000Z"),
        ("2021-06-01", "2021-06-01T00:00:00.000Z"),
        ("2021-06-01T12:34:56", "2021-06-01T12:34:56.000Z"),
        ("2021-06-01T12:34:56Z", "2021-06-01T12:34:56.000Z"),
        ("2021-06-01T12:34:56+2", "2021-06-01T10:34:56.000Z"),
        ("2021-06-01T12:34:56+02", "2021-06-01T10:34:56.000Z"),
        ("2021-06-01T12:34:56+230", "2021-06-01T10:04:56.000Z"),
        ("2021-06-01T12:34:56+0230", "2021-06-01T10:04:56.000Z"),
        ("2021-06-01T12:34:56+2:30", "2021-06-01T10:04:56.000Z"),
        ("2021-06-01T12:34:56-02:30", "2021-06-01T15:04:56.000Z"),
        ("2021-06-01T12:34:56.1", "2021-06-01T12:34:56.100Z"),
        ("2021-06-01T12:34:56.12Z", "2021-06-01T12:34:56.120Z"),
        ("2021-06-01T12:34:56.9999999+07", "2021-06-01T05:34:56.999Z"),  # decimals round down
        ("2021-06-01T00:30:00.5+07:00", "2021-05-31T17:30:00.500Z"),  # an offset crossing midnight
        ("2021-06-01T23:30:00-05", "2021-06-02T04:30:00.000Z"),
        ("0000-01-01", "0000-01-01T00:00:00.000Z"),
    ],
)
def test_every_allowed_format_parses_to_the_instant_it_means(text: str, expected: str) -> None:
    assert plus(text) == expected
    for unit in ("year", "month", "day", "hour"):
        assert plus(text, 0, unit) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "21",
        "2021-6-01",
        "2021-06-01T12:34",  # seconds are not optional
        "2021-06-01 12:34:56",
        "2021-06-01t12:34:56z",
        "2021-06-01T12:34:56.",
        "2021-06-01T12:34:56+",
        "2021-06-01T12:34:56+12:",
        "2021-06-01T12:34:56+12345",
        "2021-06-01T12:34:56 +02:00",
        "2021-02-30",
        "2021-09-99",  # the spec's own example of an invalid date
        "2022-13",  # ... and of an invalid month
        "2021-00",
        "2021-06-01T24:00:00",
        "2021-06-01T12:60:00",
        "2021-06-01T12:00:60",  # no leap seconds
        "2021-06-01T12:00:00+24:00",
        "2021-06-01T12:00:00+01:60",
        "٢٠٢١-06-01",  # Arabic-Indic digits: \d would accept them, the formats do not
        "2021-06-01\n",
        "x" * 100_000,
    ],
)
def test_strings_outside_the_allowed_formats_or_calendar_are_errors(text: str) -> None:
    with pytest.raises(CertLogicError):
        plus(text)


def test_leap_days_behave_as_the_specification_table_says() -> None:
    assert plus("2020-02-29", 1, "day") == "2020-03-01T00:00:00.000Z"
    assert plus("2020-02-29", 1, "month") == "2020-03-29T00:00:00.000Z"
    assert plus("2020-02-29", 1, "year") == "2021-03-01T00:00:00.000Z"


def test_month_and_year_offsets_keep_the_day_and_overflow_like_javascript_dates() -> None:
    assert plus("2020-01-31", 1, "month") == "2020-03-02T00:00:00.000Z"
    assert plus("2021-01-31", 1, "month") == "2021-03-03T00:00:00.000Z"
    assert plus("2021-03-31", -1, "month") == "2021-03-03T00:00:00.000Z"
    assert plus("2021-11-15T10:00:00Z", 3, "month") == "2022-02-15T10:00:00.000Z"
    assert plus("2021-01-15", -13, "month") == "2019-12-15T00:00:00.000Z"
    assert plus("2024-02-29", -4, "year") == "2020-02-29T00:00:00.000Z"
    assert plus("2021-06-01T12:00:00Z", -18, "year") == "2003-06-01T12:00:00.000Z"
    assert plus("2021-06-01T23:00:00Z", 2, "hour") == "2021-06-02T01:00:00.000Z"
    assert plus("2021-03-01", -1, "day") == "2021-02-28T00:00:00.000Z"


def test_offsets_ignore_daylight_saving_time() -> None:
    # Europe's 2021 DST change was 28 March: 24 hours are always exactly one day.
    assert plus("2021-03-27T12:00:00+01:00", 1, "day") == plus("2021-03-27T12:00:00+01:00", 24, "hour")
    assert plus("2021-03-27T12:00:00+01:00", 1, "day") == "2021-03-28T11:00:00.000Z"


def test_partial_dates_in_plustime_mean_their_last_day() -> None:
    assert plus("2004", 18, "year") == "2022-12-31T00:00:00.000Z"
    assert plus("2004-01", 18, "year") == "2022-01-31T00:00:00.000Z"
    assert plus("2004-02", 0, "hour") == "2004-02-29T00:00:00.000Z"


@pytest.mark.parametrize(
    ("dob", "expected"),
    [
        ("2004", "2004-12-31T00:00:00.000Z"),
        ("2004-02", "2004-02-29T00:00:00.000Z"),
        ("2003-02", "2003-02-28T00:00:00.000Z"),
        ("2004-04", "2004-04-30T00:00:00.000Z"),
        ("2004-12", "2004-12-31T00:00:00.000Z"),
        ("2004-06-15", "2004-06-15T00:00:00.000Z"),
    ],
)
def test_dcc_date_of_birth_is_the_last_day_consistent_with_the_data(dob: str, expected: str) -> None:
    assert iso({"dccDateOfBirth": [{"var": "dob"}]}, {"dob": dob}) == expected


@pytest.mark.parametrize("dob", ["", None, 2004, "2004-1", "2004-02-30", "2004-06-15T00:00:00Z", "04"])
def test_dcc_date_of_birth_refuses_anything_else(dob: Any) -> None:
    with pytest.raises(CertLogicError):
        evaluate({"dccDateOfBirth": [{"var": "dob"}]}, {"dob": dob})


def test_date_time_results_compare_as_instants_across_timezones() -> None:
    same = {
        "not-after": [
            {"plusTime": ["2021-06-01T12:00:00+02:00", 0, "hour"]},
            {"plusTime": ["2021-06-01T10:00:00Z", 0, "hour"]},
        ]
    }
    assert evaluate(same, None) is True
    later = {
        "after": [
            {"plusTime": ["2021-06-01T12:00:00-00:01", 0, "hour"]},
            {"plusTime": ["2021-06-01T12:00:00Z", 0, "hour"]},
        ]
    }
    assert evaluate(later, None) is True
    result = evaluate({"plusTime": ["2021-06-01T12:00:00+02:00", 1, "hour"]}, None)
    assert str(result) == "2021-06-01T11:00:00.000Z"
    assert result.to_datetime().isoformat() == "2021-06-01T11:00:00+00:00"


def test_date_times_and_integers_do_not_mix() -> None:
    date = {"plusTime": ["2021-06-01", 0, "day"]}
    with pytest.raises(CertLogicError, match="date-time comparison must be date-times"):
        evaluate({"after": [date, 5]}, None)
    with pytest.raises(CertLogicError, match="integer type"):
        evaluate({"<": [date, date]}, None)
    with pytest.raises(CertLogicError, match="date argument"):
        evaluate({"plusTime": [date, 1, "day"]}, None)  # plusTime takes strings, not date-times
    with pytest.raises(CertLogicError, match="neither truthy nor falsy"):
        evaluate({"if": [date, 1, 2]}, None)
    with pytest.raises(CertLogicError, match="neither truthy nor falsy"):
        evaluate({"!": [date]}, None)


# -- hostile rules --------------------------------------------------------------------------------


def _nested(depth: int, leaf: Any = True) -> Any:
    expr = leaf
    for _ in range(depth):
        expr = {"!": [expr]}
    return expr


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_a_validation_problem_not_a_recursion_error(depth: int) -> None:
    expr = _nested(depth)
    problems = validate(expr)
    assert len(problems) == 1 and f"deeper than {MAX_DEPTH} levels" in problems[0]
    with pytest.raises(CertLogicError, match="deeper than"):
        evaluate(expr, {})
    with pytest.raises(CertLogicError, match="deeper than"):
        compile_expression(expr)
    deep_array: Any = "x"
    for _ in range(depth):
        deep_array = [deep_array]
    with pytest.raises(CertLogicError, match="deeper than"):
        evaluate(deep_array, None)


def test_nesting_up_to_the_limit_works_even_with_little_stack_left() -> None:
    expr = _nested(MAX_DEPTH)
    evaluator = compile_expression(expr)

    def at_depth(n: int) -> Any:
        return at_depth(n - 1) if n else evaluator({})

    limit = sys.getrecursionlimit()
    assert at_depth(limit - 400) is (MAX_DEPTH % 2 == 0)


def test_cyclic_expressions_are_refused() -> None:
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(CertLogicError):
        evaluate(cyclic, None)
    node: dict = {"!": []}
    node["!"].append(node)
    assert validate(node)


@pytest.mark.parametrize("unit", ["year", "month", "day", "hour"])
@pytest.mark.parametrize("amount", [10**12, -(10**15), 10**30, -(10**300)])
def test_huge_plustime_amounts_are_errors_not_hangs(unit: str, amount: int) -> None:
    with pytest.raises(CertLogicError, match="out of range"):
        evaluate({"plusTime": ["2021-06-01", amount, unit]}, None)


def test_plustime_reaches_exactly_the_javascript_date_range() -> None:
    assert plus("1970-01-01", 100_000_000, "day") == "+275760-09-13T00:00:00.000Z"
    assert plus("1970-01-01", -100_000_000, "day") == "-271821-04-20T00:00:00.000Z"
    with pytest.raises(CertLogicError, match="out of range"):
        plus("1970-01-01", 100_000_001, "day")
    assert plus("2021-06-01", 200_000, "year") == "+202021-06-01T00:00:00.000Z"


def test_a_runaway_reduction_stops_at_the_step_budget() -> None:
    count = {"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, 1]}, 0]}
    assert evaluate(count, {"x": list(range(100_000))}) == 100_000  # large arrays are fine
    with pytest.raises(CertLogicError, match="budget"):
        evaluate(count, {"x": [0] * MAX_STEPS})
    # Reductions nested in reductions multiply: 1000 x 1000 items x a few nodes each is too much.
    square = {
        "reduce": [
            {"var": "x"},
            {"reduce": [{"var": "current"}, {"+": [{"var": "accumulator"}, 1]}, {"var": "accumulator"}]},
            0,
        ]
    }
    assert evaluate(square, {"x": [[0] * 10] * 10}) == 100
    with pytest.raises(CertLogicError, match="budget"):
        evaluate(square, {"x": [[0] * 1000] * 1000})


def test_self_similar_values_cannot_make_equality_explode() -> None:
    # Each step doubles the tree a deep comparison would walk: 2**60 nodes after 60 items.
    doubling = {"reduce": [{"var": "x"}, [{"var": "accumulator"}, {"var": "accumulator"}], 0]}
    expr = {"===": [doubling, doubling]}
    assert evaluate(expr, {"x": [0] * 5}) is True
    with pytest.raises(CertLogicError, match="budget"):
        evaluate(expr, {"x": [0] * 60})
    # ... and a value nested 100,000 deep compares without recursion.
    deep_a: Any = 1
    deep_b: Any = 1
    for _ in range(100_000):
        deep_a, deep_b = [deep_a], [deep_b]
    assert evaluate({"===": [{"var": "a"}, {"var": "b"}]}, {"a": deep_a, "b": deep_b}) is True


def test_integer_addition_stops_at_the_javascript_safe_range() -> None:
    doubling = {"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, {"var": "accumulator"}]}, 1]}
    assert evaluate(doubling, {"x": [0] * 52}) == 2**52
    with pytest.raises(CertLogicError, match="overflow"):
        evaluate(doubling, {"x": [0] * 10_000})


def test_a_huge_uci_is_split_only_as_far_as_needed() -> None:
    uci = "URN:UVCI:01:VN:" + "/".join(["x"] * 1_000_000)
    assert evaluate({"extractFromUVCI": [{"var": ""}, 1]}, uci) == "VN"
    assert evaluate({"extractFromUVCI": [{"var": ""}, 10**20]}, "01:VN:ABC") is None


# -- values and types -----------------------------------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize(
    "value", [b"bytes", ("a", "tuple"), {"a", "set"}, Opaque(), 1.5, math.nan, math.inf, 1 + 2j]
)
def test_non_json_values_are_returned_by_var_and_refused_by_everything_else(value: Any) -> None:
    data = {"v": value}
    assert evaluate({"var": "v"}, data) is value
    for expr in (
        {"if": [{"var": "v"}, 1, 2]},
        {"!": [{"var": "v"}]},
        {"and": [{"var": "v"}, true_ := True]},
        {"and": [true_, {"var": "v"}]},
        {"<": [{"var": "v"}, 1]},
        {"+": [{"var": "v"}, 1]},
        {"plusTime": [{"var": "v"}, 0, "day"]},
        {"dccDateOfBirth": [{"var": "v"}]},
        {"extractFromUVCI": [{"var": "v"}, 0]},
        {"reduce": [{"var": "v"}, 1, 0]},
        {"in": ["a", {"var": "v"}]},
    ):
        with pytest.raises(CertLogicError):
            evaluate(expr, data)


@pytest.mark.parametrize("value", [b"bytes", ("a", "tuple"), Opaque()])
def test_equality_and_membership_refuse_non_json_values(value: Any) -> None:
    with pytest.raises(CertLogicError, match="non-JSON"):
        evaluate({"===": [{"var": "v"}, {"var": "v"}]}, {"v": value})
    with pytest.raises(CertLogicError, match="non-JSON"):
        evaluate({"in": [{"var": "v"}, ["a", "b"]]}, {"v": value})
    with pytest.raises(CertLogicError, match="non-JSON"):
        evaluate({"in": [{"var": "v"}, {"var": "list"}]}, {"v": value, "list": [1, 2]})


def test_equality_is_strict_about_types() -> None:
    def eq(a: Any, b: Any) -> bool:
        return evaluate({"===": [{"var": "a"}, {"var": "b"}]}, {"a": a, "b": b})

    assert eq(1, 1) and eq("a", "a") and eq(None, None) and eq(True, True)
    assert (
        not eq(1, "1") and not eq(1, True) and not eq(0, False) and not eq(None, False) and not eq("", None)
    )
    assert eq(2, 2.0)  # JSON cannot tell them apart
    assert eq([1, {"a": [2]}], [1, {"a": [2]}]) and not eq([1], [True]) and not eq({"a": 1}, {"b": 1})
    assert not eq(math.nan, math.nan)


@pytest.mark.parametrize("where", ["literal", "data"])
def test_membership_is_strict_about_types(where: str) -> None:
    def member(x: Any, items: list) -> bool:
        haystack = items if where == "literal" else {"var": "items"}
        return evaluate({"in": [{"var": "x"}, haystack]}, {"x": x, "items": items})

    assert member("a", ["a", "b"]) and not member("c", ["a", "b"])
    assert not member(1, ["1"]) and not member("1", [1]) and member(1, [1])
    assert not member(True, [1]) and not member(1, [True]) and member(True, [True]) and not member(False, [0])
    assert member(1.0, [1]) and member(1, [1.0] if where == "data" else [1])
    assert not member(None, ["a"]) and not member([1], [1]) and not member({}, ["a"])
    assert not member(math.nan, [1])
    if where == "data":
        assert member([1], [[1]]) and member(None, [None])


def test_integral_floats_are_integers_and_booleans_are_not() -> None:
    # CBOR from some issuers carries dose numbers as floats.
    data = {"v": [{"dn": 2.0, "sd": 2}]}
    assert evaluate({">=": [{"var": "v.0.dn"}, {"var": "v.0.sd"}]}, data) is True
    assert evaluate({"+": [{"var": "v.0.dn"}, 1]}, data) == 3
    assert evaluate({"if": [2.0, "T", "F"]}, None) == "T"
    assert evaluate({"plusTime": ["2021-06-01", 1.0, "day"]}, None) == evaluate(
        {"plusTime": ["2021-06-01", 1, "day"]}, None
    )
    assert validate(42.0) == []
    for expr in ({"<": [True, 2]}, {"+": [1, False]}):
        with pytest.raises(CertLogicError, match="integer type"):
            evaluate(expr, None)
    assert validate({"plusTime": ["2021-06-01", True, "day"]}) == [
        '"amount" argument (#2) of "plusTime" must be an integer, but it is: true'
    ]


def test_truthy_falsy_and_neither() -> None:
    for falsy in (False, None, "", 0, 0.0, [], {}):
        assert evaluate({"!": [{"var": "v"}]}, {"v": falsy}) is True
    for truthy in (True, "0", " ", -1, 3.0, [0], [None], {"a": None}):
        assert evaluate({"!": [{"var": "v"}]}, {"v": truthy}) is False
    for neither in (0.5, math.nan, math.inf):
        with pytest.raises(CertLogicError, match="neither truthy nor falsy"):
            evaluate({"!": [{"var": "v"}]}, {"v": neither})


def test_and_requires_every_operand_to_be_truthy_or_falsy_the_last_one_too() -> None:
    assert evaluate({"and": [1, "a", [1]]}, None) == [1]
    with pytest.raises(CertLogicError, match="neither"):
        evaluate({"and": [True, {"plusTime": ["2021-06-01", 0, "day"]}]}, None)
    with pytest.raises(CertLogicError, match="neither"):
        evaluate({"and": [True, {"var": "x"}, True]}, {"x": 0.5})
    # Operands after the first falsy one are not evaluated (an error there does not matter).
    assert evaluate({"and": [0, {"+": ["a", 1]}, {"+": ["a", 1]}]}, None) == 0


def test_if_evaluates_only_the_branch_taken() -> None:
    boom = {"+": [{"var": "s"}, 1]}
    assert evaluate({"if": [True, "then", boom]}, {"s": "x"}) == "then"
    assert evaluate({"if": [{"var": "missing"}, boom, "else"]}, {"s": "x"}) == "else"


def test_var_drills_only_into_objects_and_arrays() -> None:
    data = {"a": [10, 20], "s": "abc", "o": {"0": "zero", "1.5": "no"}, "n": None}
    assert evaluate({"var": "a.1"}, data) == 20
    assert evaluate({"var": "a.-1"}, data) is None
    assert evaluate({"var": "a.length"}, data) is None
    assert evaluate({"var": "a.01"}, data) == 20  # parseInt reading, as the reference does
    assert evaluate({"var": "s.0"}, data) is None
    assert evaluate({"var": "o.0"}, data) == "zero"
    assert evaluate({"var": "n.x.y"}, data) is None
    assert evaluate({"var": "a.99999999999999999999"}, data) is None


def test_operations_outside_the_specification_are_unrecognised() -> None:
    for operator in (
        "!==",
        "==",
        "!=",
        "or",
        "!!",
        "map",
        "filter",
        "all",
        "some",
        "none",
        "max",
        "cat",
        "-",
        "*",
    ):
        assert validate({operator: [1, 2]}) == [f'unrecognised operator: "{operator}"']
    assert validate({"extractFromUCI": ["a", 0]}) == ['unrecognised operator: "extractFromUCI"']


def test_nested_problems_are_all_reported_with_their_location() -> None:
    expr = {
        "and": [
            {"var": 0},
            {"if": [True, 1]},
            {"plusTime": [{"var": "x."}, "14", "days"]},
            {"<": [1]},
            {"in": [1, 3.5]},
            {"!": [1, 2]},
            {"dccDateOfBirth": []},
            {"extractFromUVCI": ["a", "b"]},
            {"reduce": [[], 1]},
        ]
    }
    assert validate(expr) == [
        'not of the form { "var": "<path>" } (at /and/0)',
        'an "if"-operation must have exactly 3 values/operands, but it has 2 (at /and/1)',
        "data access path doesn't have a valid format: x. (at /and/2/plusTime/0)",
        '"amount" argument (#2) of "plusTime" must be an integer, but it is: 14 (at /and/2)',
        '"unit" argument (#3) of "plusTime" must be a string equal to one of year, month, day, hour, '
        "but it is: days (at /and/2)",
        'an operation with operator "<" must have 2 or 3 operands, but it has 1 (at /and/3)',
        "3.5 is a non-integer number (at /and/4/in/1)",
        "a !-operation (logical not/negation) must have exactly 1 operand, but it has 2 (at /and/5)",
        'a "dccDateOfBirth"-operation must have exactly 1 value/operand, but it has 0 (at /and/6)',
        '"index" argument (#2) of "extractFromUVCI" must be an integer, but it is: b (at /and/7)',
        'a "reduce"-operation must have exactly 3 values/operands, but it has 2 (at /and/8)',
    ]
    with pytest.raises(CertLogicError) as raised:
        compile_expression(expr)
    assert len(raised.value.problems) == 11
    # The whole expression is validated before anything is evaluated, even unreachable branches.
    with pytest.raises(CertLogicError, match="unrecognised operator"):
        evaluate({"if": [True, 1, {"or": [1, 2]}]}, None)


def test_evaluation_errors_say_where_they_happened() -> None:
    expr = {"and": [True, {"if": [True, {"<": [1, {"var": "x"}]}, 0]}]}
    with pytest.raises(CertLogicError, match=r'at /and/1/if/1/<: .*integer type, but got "2"'):
        evaluate(expr, {"x": "2"})


def test_results_are_fresh_values_the_caller_may_change() -> None:
    evaluator = compile_expression(["a", "b"])
    first = evaluator(None)
    first.append("c")
    assert evaluator(None) == ["a", "b"]


def test_a_compiled_rule_is_safe_to_share_between_threads() -> None:
    rule = compile_expression(
        {"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}
    )
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(50):
                assert rule({"x": list(range(n))}) == n * (n - 1) // 2
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (10, 1000, 5000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_data_accesses_lists_what_a_rule_reads_outside_reduce_lambdas() -> None:
    rule = {
        "if": [
            {"var": "payload.v.0"},
            {
                "and": [
                    {
                        "not-after": [
                            {"plusTime": [{"var": "payload.v.0.dt"}, 14, "day"]},
                            {"plusTime": [{"var": "external.validationClock"}, 0, "day"]},
                        ]
                    },
                    {
                        "reduce": [
                            {"var": "payload.v"},
                            {"+": [{"var": "accumulator"}, {"var": "current.dn"}]},
                            {"var": "payload.v.0.dn"},
                        ]
                    },
                    {
                        "in": [
                            {"var": "payload.v.0.mp"},
                            {"var": "external.valueSets.vaccines-covid-19-names"},
                        ]
                    },
                    [{"var": "payload.v.0"}],
                ]
            },
            True,
        ]
    }
    assert data_accesses(rule) == [
        "payload.v.0",
        "payload.v.0.dt",
        "external.validationClock",
        "payload.v",
        "payload.v.0.dn",
        "payload.v.0.mp",
        "external.valueSets.vaccines-covid-19-names",
    ]
    assert data_accesses(True) == []
    with pytest.raises(CertLogicError, match="unrecognised operator"):
        data_accesses({"==": [{"var": "payload.v.0.sd"}, 1]})
