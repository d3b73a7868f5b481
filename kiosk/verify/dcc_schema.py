"""The schema step of HC1: the DCC payload against the official EU JSON schema of its `ver`.

The schemas are the eHealth Network's own releases 1.0.0 … 1.3.3, vendored unmodified in
`schemas/` (README and Apache-2.0 licence there). A payload is checked against the schema of
the version it declares, because issuers still sign older versions and each version requires
different fields (1.2.1 requires a test centre, 1.3.0 does not; 1.3.2 allows a name with only a
forename). A `ver` with no released schema, or none at all, is checked against 1.3.0 (which
then requires `ver` and refuses a missing one).

Decisions, each made to accept what the specification and the EU reference verifiers accept
and nothing they refuse:
- `format` ("date", "date-time") is not asserted. The schemas declare JSON Schema 2020-12,
  where `format` is an annotation unless a schema opts into format assertion, and the schema
  project's own *valid* test cases carry `sc` values such as "2021-06-11T17:30:00+0200" that a
  strict RFC 3339 checker refuses. Dates are judged by the health rules, which parse them.
- `pattern` follows the JSON Schema (ECMA-262) dialect, not Python's: `\\d` is ASCII only and
  `$` matches only at the very end (Python's also matches before a final newline). Each
  pattern is compiled with the `(?a)` flag and a final `$` becomes `\\Z`.
- Exactly one certificate: one of `v`/`t`/`r`, with one entry. Schemas from 1.3.0 say so
  themselves; for older versions the EU test suite names it (dgc-testdata DGC2, "adheres to the
  schema but contains multiple certificates": INVALID at schema validation), and a signer's
  EKU type restriction could not be applied to a mixed certificate.

Speed: validator construction is the slow part and `$ref` resolution at validation time used
to be two thirds of an HC1 verification, so each version is compiled once, lazily, with every
local `$ref` inlined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from kiosk.verify.signed import STEP_SCHEMA, StepFailure

FALLBACK_VERSION = "1.3.0"
_PREFIX, _SUFFIX = "dcc-", ".json"
_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples"})
CERT_GROUPS = ("v", "t", "r")


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    """Replace local `#/$defs/x` references by their targets (the EU schemas have no cycles).

    A `$ref` with only annotations beside it (the EU schemas' usual `{"description", "$ref"}`)
    becomes its target; with asserting siblings it becomes `allOf: [target]` next to them, which
    is what 2020-12 means by a `$ref` among other keywords.
    """
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    rest = {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("$ref", "$defs")}
    if "pattern" in rest and isinstance(rest["pattern"], str):
        rest["pattern"] = _ecma_pattern(rest["pattern"])
    ref = node.get("$ref")
    if ref is None:
        return rest
    if not (isinstance(ref, str) and ref.startswith("#/$defs/")):
        raise ValueError(f"unsupported $ref {ref!r}")
    target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
    if all(k in _ANNOTATIONS for k in rest):
        return target
    return {**rest, "allOf": [*rest.get("allOf", []), target]}


def _ecma_pattern(pattern: str) -> str:
    """An ECMA-262 pattern of the EU schemas as the same Python pattern (see the module doc)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return "(?a)" + pattern


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def compile_schema(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A validator for one EU schema document, `$ref`s inlined (checked: none left)."""
    Draft202012Validator.check_schema(schema)
    inlined = _inline_refs(schema, schema.get("$defs", {}))
    if _has_ref(inlined):
        raise ValueError("a $ref survived inlining")
    return Draft202012Validator(inlined)


def load_schema(ver: str) -> dict[str, Any]:
    """The vendored official schema of version `ver` (KeyError if none was released)."""
    name = f"{_PREFIX}{ver}{_SUFFIX}"
    path = resources.files("kiosk.verify").joinpath("schemas", name)
    if not path.is_file():
        raise KeyError(ver)
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))  # the vendored file: an object
    return schema


def released_versions() -> tuple[str, ...]:
    """Every schema version shipped in the package, oldest first."""
    names = [p.name for p in resources.files("kiosk.verify").joinpath("schemas").iterdir()]
    wanted = [n for n in names if n.startswith(_PREFIX) and n.endswith(_SUFFIX)]
    versions = [n[len(_PREFIX) : -len(_SUFFIX)] for n in wanted]
    return tuple(sorted(versions, key=lambda v: tuple(int(p) for p in v.split("."))))


def single_certificate(dcc: Mapping[str, Any]) -> bool:
    """Exactly one of v/t/r, holding exactly one entry."""
    groups = [dcc[g] for g in CERT_GROUPS if g in dcc]
    return len(groups) == 1 and isinstance(groups[0], list) and len(groups[0]) == 1


class DccSchema:
    """The schema step. Validators are compiled on first use of each version, then kept."""

    def __init__(self) -> None:
        self._versions = frozenset(released_versions())
        if FALLBACK_VERSION not in self._versions:
            raise RuntimeError(f"DCC schema {FALLBACK_VERSION} missing from the package")
        self._validators: dict[str, Draft202012Validator] = {}

    def version_for(self, ver: object) -> str:
        """The schema version a payload is checked against."""
        return ver if isinstance(ver, str) and ver in self._versions else FALLBACK_VERSION

    def validator(self, ver: object) -> Draft202012Validator:
        key = self.version_for(ver)
        found = self._validators.get(key)
        if found is None:  # a race only compiles twice; both results are the same
            found = self._validators[key] = compile_schema(load_schema(key))
        return found

    def check(self, dcc: Mapping[str, Any]) -> None:
        """Raise StepFailure('schema', 'schema_invalid') unless the DCC conforms."""
        if not isinstance(dcc, dict):
            raise StepFailure(STEP_SCHEMA, "schema_invalid")
        try:
            valid = self.validator(dcc.get("ver")).is_valid(dcc)
        except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:  # odd CBOR values
            raise StepFailure(STEP_SCHEMA, "schema_invalid") from exc
        if not valid or not single_certificate(dcc):
            raise StepFailure(STEP_SCHEMA, "schema_invalid")
