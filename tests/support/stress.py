"""Delivery accounting for `scripts/stress`: each fault test says what it recorded and what arrived.

With $STRESS_REPORT set (the script sets it), `report` appends one JSON line per call to that file:
the test, how many passages were recorded, how many arrived, how many were lost and how many arrived
more than once. It is called before the test's own assertions, so a failing run is counted too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Iterable

ENV = "STRESS_REPORT"


def report(recorded: Iterable[Hashable], delivered: Iterable[Hashable], what: str = "") -> tuple[int, int]:
    """(lost, duplicated): recorded items missing from `delivered`, and `delivered` items seen twice."""
    sent, got = list(recorded), list(delivered)
    lost = len(set(sent) - set(got))
    dup = len(got) - len(set(got))
    path = os.environ.get(ENV)
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        line = {
            "test": test,
            "what": what,
            "recorded": len(sent),
            "delivered": len(got),
            "lost": lost,
            "dup": dup,
        }
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
    return lost, dup
