"""CertLogic evaluation cost: a compiled rule vs `evaluate` (validate + compile + run every time).

Run: `.venv/bin/python bench/certlogic.py [--quick]`. Times the EU-style vaccination rule below
(complete course, 14 days to 12 months after the last dose, in a 365-day window, product and
disease checked) compiled once vs through `evaluate`, then a set of ten rules per certificate as a
kiosk runs them. Every certificate gets its own validation clock (one second apart), as at a real
checkpoint, so the date-time cache only helps within one certificate.
Last line (machine-readable):
    certlogic: compiled_us=... evaluate_us=... ratio=... rules10_us=... certs_per_s=...
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.certlogic import compile_expression, evaluate

VACCINES = [
    "EU/1/20/1528",
    "EU/1/20/1507",
    "EU/1/21/1529",
    "EU/1/20/1525",
    "EU/1/21/1618",
    "Covaxin",
    "BBIBP-CorV",
]
CLOCK = {"plusTime": [{"var": "external.validationClock"}, 0, "day"]}
VACCINATION_RULE = {
    "if": [
        {"var": "payload.v.0"},
        {
            "and": [
                {"===": [{"var": "payload.v.0.tg"}, "840539006"]},
                {"in": [{"var": "payload.v.0.mp"}, VACCINES]},
                {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]},
                {
                    "not-after": [
                        {"plusTime": [{"var": "payload.v.0.dt"}, 14, "day"]},
                        CLOCK,
                        {"plusTime": [{"var": "payload.v.0.dt"}, 12, "month"]},
                    ]
                },
            ]
        },
        True,
    ]
}


def _guarded(kind: str, check: dict) -> dict:
    return {"if": [{"var": f"payload.{kind}.0"}, check, True]}


RULES = [
    VACCINATION_RULE,
    _guarded("v", {"in": [{"var": "payload.v.0.vp"}, {"var": "external.valueSets.sct-vaccines-covid-19"}]}),
    _guarded(
        "v", {"in": [{"var": "payload.v.0.ma"}, {"var": "external.valueSets.vaccines-covid-19-auth-holders"}]}
    ),
    _guarded("v", {"in": [{"extractFromUVCI": [{"var": "payload.v.0.ci"}, 1]}, ["VN", "DE", "FR", "ES"]]}),
    _guarded("v", {"not-before": [CLOCK, {"plusTime": [{"var": "payload.v.0.dt"}, 0, "day"]}]}),
    {
        "if": [
            {"var": "payload.dob"},
            {"not-after": [{"dccDateOfBirth": [{"var": "payload.dob"}]}, CLOCK]},
            True,
        ]
    },
    _guarded("t", {"===": [{"var": "payload.t.0.tr"}, "260415000"]}),
    _guarded(
        "t",
        {"before": [CLOCK, {"plusTime": [{"var": "payload.t.0.sc"}, 72, "hour"]}]},
    ),
    _guarded(
        "r",
        {
            "not-after": [
                {"plusTime": [{"var": "payload.r.0.fr"}, 11, "day"]},
                CLOCK,
                {"plusTime": [{"var": "payload.r.0.fr"}, 180, "day"]},
            ]
        },
    ),
    {
        "reduce": [
            {"var": "payload.v"},
            {"and": [{"var": "accumulator"}, {"<=": [1, {"var": "current.dn"}, 9]}]},
            True,
        ]
    },
]

PAYLOAD = {
    "ver": "1.3.0",
    "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"},
    "dob": "1990-04-01",
    "v": [
        {
            "tg": "840539006",
            "vp": "1119349007",
            "mp": "EU/1/20/1528",
            "ma": "ORG-100030215",
            "dn": 2,
            "sd": 2,
            "dt": "2021-09-01",
            "co": "VN",
            "is": "Ministry of Health",
            "ci": "URN:UVCI:01:VN:8F3A21C94B#K",
        }
    ],
}
VALUE_SETS = {
    "sct-vaccines-covid-19": ["1119305005", "1119349007", "J07BX03"],
    "vaccines-covid-19-auth-holders": ["ORG-100001699", "ORG-100030215", "ORG-100001417", "ORG-100031184"],
}


def data_contexts(n: int) -> list[dict[str, Any]]:
    start = dt.datetime(2022, 3, 1, 8, 0, tzinfo=dt.UTC)
    return [
        {
            "payload": PAYLOAD,
            "external": {
                "validationClock": (start + dt.timedelta(seconds=i)).isoformat(),
                "valueSets": VALUE_SETS,
                "countryCode": "VN",
            },
        }
        for i in range(n)
    ]


def per_call_us(fn: Callable[[dict], Any], contexts: list[dict], budget_s: float) -> float:
    calls = 0
    started = time.perf_counter()
    while True:
        for data in contexts:
            fn(data)
        calls += len(contexts)
        elapsed = time.perf_counter() - started
        if elapsed >= budget_s:
            return elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    args = parser.parse_args()
    budget = 0.2 if args.quick else 2.0
    contexts = data_contexts(200 if args.quick else 5000)

    compiled = compile_expression(VACCINATION_RULE)
    assert all(compiled(data) is True for data in contexts[:10]), "the sample certificate must pass"
    compiled_us = per_call_us(compiled, contexts, budget)
    evaluate_us = per_call_us(lambda data: evaluate(VACCINATION_RULE, data), contexts, budget)

    rules = [compile_expression(rule) for rule in RULES]
    assert all(rule(contexts[0]) is True for rule in rules), "every sample rule must pass"

    def all_rules(data: dict) -> None:
        for rule in rules:
            rule(data)

    rules_us = per_call_us(all_rules, contexts, budget)
    print(f"vaccination rule: compiled {compiled_us:.1f} us, evaluate {evaluate_us:.1f} us per call")
    print(f"{len(rules)} rules per certificate: {rules_us:.1f} us, {1e6 / rules_us:,.0f} certificates/s")
    print(
        f"certlogic: compiled_us={compiled_us:.2f} evaluate_us={evaluate_us:.2f} "
        f"ratio={evaluate_us / compiled_us:.1f} rules10_us={rules_us:.1f} certs_per_s={1e6 / rules_us:.0f}"
    )


if __name__ == "__main__":
    main()
