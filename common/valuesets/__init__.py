"""The EU DCC value sets (Apache-2.0, from the EU's ehn-dcc-valuesets), shipped with the package.

A kiosk has no internet: the value sets its health rules refer to (`external.valueSets.<id>` in
CertLogic) must be on board. The hub may push newer ones inside a signed rule document; these are
the fallback. Rules see a value set as the list of its codes, as the EU reference verifiers pass it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from common.jsonfile import read_json_file

MAX_VALUE_SET_FILE = 4 * 1024 * 1024


class ValueSetError(ValueError):
    """A file that is not an EU value set; the message names it."""


def parse_value_set(doc: Any, source: str) -> tuple[str, list[str]]:
    """(valueSetId, codes) of one EU value-set document."""
    if not isinstance(doc, Mapping):
        raise ValueSetError(f"{source}: a value set is a JSON object")
    vs_id, values = doc.get("valueSetId"), doc.get("valueSetValues")
    if not isinstance(vs_id, str) or not vs_id or not isinstance(values, Mapping):
        raise ValueSetError(f"{source}: needs valueSetId (string) and valueSetValues (object)")
    return vs_id, sorted(str(code) for code in values)


def read_value_set_file(path: Path) -> tuple[str, list[str]]:
    return parse_value_set(read_json_file(path, MAX_VALUE_SET_FILE, ValueSetError), str(path))


@cache
def _shipped() -> dict[str, tuple[str, ...]]:
    sets: dict[str, tuple[str, ...]] = {}
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".json"):
            vs_id, codes = parse_value_set(json.loads(entry.read_text("utf-8")), entry.name)
            sets[vs_id] = tuple(codes)
    return sets


def shipped_value_sets() -> dict[str, list[str]]:
    """The EU value sets shipped with the package (read once per process; a fresh copy each call)."""
    return {vs_id: list(codes) for vs_id, codes in _shipped().items()}


def load_value_sets(paths: Iterable[Path] = ()) -> dict[str, list[str]]:
    """The value sets in `paths` (files or directories of *.json); the shipped ones when none given."""
    given = list(paths)
    if not given:
        return shipped_value_sets()
    sets: dict[str, list[str]] = {}
    for path in given:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            vs_id, codes = read_value_set_file(file)
            sets[vs_id] = codes
    if not sets:
        raise ValueSetError(f"no value set found in {', '.join(map(str, given))}")
    return sets
