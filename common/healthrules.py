"""Health (business) rules for EU DCCs in the EU rule format, with CertLogic logic.

Why this exists: a signature only says *who* issued a certificate; whether it admits its holder
(a negative test, a complete vaccination course, a recent recovery) is a rule. The EU expresses
those rules as data — one JSON object per rule, its logic in CertLogic — so that a country can
change them without new software. The hub signs and pushes a rule document; the kiosk evaluates
the rules valid at scan time after every signature check (kiosk/verify/verifier.py).

A rule document (a file, or the payload of the hub's signed `rules` message) is
`{"rules": [<EU rule>...], "value_sets": {"<valueSetId>": ["<code>", ...]}}`; `value_sets` is
optional: the EU value sets shipped in common/valuesets are used, each overridden by a set of the
same id that the document carries. A file may also hold a
single EU rule or a JSON array of them.

Which rules apply (as the EU reference verifiers choose them):
- `Acceptance` rules of the checkpoint's country, `Invalidation` rules of the issuing country;
- `General` rules for every certificate, the others for their certificate type only;
- of the versions of one `Identifier`, the one with the latest `ValidFrom` that is not after the
  validation clock, while the clock is before its `ValidTo`.
A rule passes only when its logic evaluates to `true`; false, anything else, or an evaluation
error is a failure (the CertLogic specification advises exactly this).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.certlogic import CertLogicError, compile_expression, data_accesses, validate
from common.jsonfile import read_json_file
from common.valuesets import load_value_sets, shipped_value_sets

MAX_RULE_FILE = 4 * 1024 * 1024
MAX_RULES = 2_000
CERT_TYPES = {"v": "Vaccination", "t": "Test", "r": "Recovery"}
RuleCheck = Callable[[Any], Any]


class RuleError(ValueError):
    """A rule or rule document that cannot be used; the message names the file and the rule."""


class _Description(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: str = Field(min_length=2, max_length=8)
    desc: str = Field(min_length=1, max_length=2000)


class _RuleModel(BaseModel):
    """The EU rule format (dgc-business-rules), checked field by field."""

    model_config = ConfigDict(extra="forbid")
    Identifier: str = Field(pattern=r"^(GR|VR|TR|RR|IR)-[A-Z]{2}-\d{4}$")
    Type: Literal["Acceptance", "Invalidation"]
    Country: str = Field(pattern=r"^[A-Z]{2}$")
    Region: str | None = Field(None, max_length=8)
    Version: str = Field(pattern=r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
    SchemaVersion: str = Field(pattern=r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
    Engine: Literal["CERTLOGIC"]
    EngineVersion: str = Field(pattern=r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
    CertificateType: Literal["General", "Vaccination", "Test", "Recovery"]
    Description: list[_Description] = Field(min_length=1, max_length=40)
    ValidFrom: dt.datetime
    ValidTo: dt.datetime
    AffectedFields: list[str] = Field(max_length=100)
    Logic: Any

    @field_validator("ValidFrom", "ValidTo")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("needs a UTC offset (e.g. 2021-07-01T00:00:00Z)")
        return v

    @model_validator(mode="after")
    def _window(self) -> _RuleModel:
        if self.ValidTo <= self.ValidFrom:
            raise ValueError("ValidTo must be after ValidFrom")
        if not isinstance(self.Logic, dict) or not self.Logic:
            raise ValueError("Logic must be a CertLogic expression object")
        return self


@dataclass(frozen=True, slots=True)
class HealthRule:
    """One parsed, validated and compiled rule. `source` is its JSON as given (re-sent verbatim)."""

    identifier: str
    type: str
    country: str
    version: tuple[int, ...]
    certificate_type: str
    descriptions: Mapping[str, str]
    valid_from: dt.datetime
    valid_to: dt.datetime
    affected_fields: tuple[str, ...]
    reads_clock: bool
    check: RuleCheck = field(repr=False, compare=False)
    source: Mapping[str, Any] = field(repr=False, compare=False)

    def description(self, lang: str) -> str | None:
        return self.descriptions.get(lang)

    def valid_at(self, when: dt.datetime) -> bool:
        return self.valid_from <= when < self.valid_to


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule that did not pass: which one, and whether its verdict depends on the clock."""

    rule: HealthRule
    error: str | None = None  # the evaluation error, when there was one

    @property
    def identifier(self) -> str:
        return self.rule.identifier


def _reads_clock(logic: Any) -> bool:
    """Does the logic read the validation clock anywhere? (A `var` on external.validationClock.)"""
    return any(path.startswith("external.validationClock") for path in data_accesses(logic))


def parse_rule(obj: Any, where: str = "rule") -> HealthRule:
    """Check one EU rule (fields, then its CertLogic) and compile it; RuleError names what is wrong."""
    name = obj.get("Identifier", where) if isinstance(obj, Mapping) else where
    try:
        model = _RuleModel.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "rule"
        raise RuleError(f"{where}: {name}: {loc}: {first['msg']}") from None
    problems = validate(model.Logic)
    if problems:
        raise RuleError(f"{where}: {name}: Logic: {problems[0]}")
    try:
        check = compile_expression(model.Logic)
    except CertLogicError as exc:
        raise RuleError(f"{where}: {name}: Logic: {exc}") from None
    return HealthRule(
        identifier=model.Identifier,
        type=model.Type,
        country=model.Country,
        version=tuple(int(p) for p in model.Version.split(".")),
        certificate_type=model.CertificateType,
        descriptions={d.lang: d.desc for d in model.Description},
        valid_from=model.ValidFrom,
        valid_to=model.ValidTo,
        affected_fields=tuple(model.AffectedFields),
        reads_clock=_reads_clock(model.Logic),
        check=check,
        source=obj,
    )


def rules_in_document(doc: Any, where: str) -> tuple[list[Any], dict[str, list[str]] | None]:
    """The raw rules and value sets of a rule file or document (one rule, a list, or the full form)."""
    value_sets: dict[str, list[str]] | None = None
    if isinstance(doc, Mapping) and "rules" in doc:
        rules = doc["rules"]
        raw_sets = doc.get("value_sets")
        if raw_sets is not None:
            if not isinstance(raw_sets, Mapping) or not all(
                isinstance(k, str) and isinstance(v, list) and all(isinstance(c, str) for c in v)
                for k, v in raw_sets.items()
            ):
                raise RuleError(f"{where}: value_sets must map a valueSetId to a list of codes")
            value_sets = {k: list(v) for k, v in raw_sets.items()}
    elif isinstance(doc, Mapping):
        rules = [doc]
    else:
        rules = doc
    if not isinstance(rules, list):
        raise RuleError(f'{where}: a rule file holds one rule, a list of rules or {{"rules": [...]}}')
    if len(rules) > MAX_RULES:
        raise RuleError(f"{where}: more than {MAX_RULES} rules")
    return rules, value_sets


def parse_rule_document(doc: Any, where: str) -> tuple[list[HealthRule], dict[str, list[str]] | None]:
    """Every rule of a parsed rule file or document, each checked; a broken rule refuses the whole (a rule
    set is all or nothing: a missing rule would silently let through what it was meant to stop)."""
    raw, value_sets = rules_in_document(doc, where)
    return [parse_rule(r, f"{where}[{i}]") for i, r in enumerate(raw)], value_sets


def read_rule_file(path: Path) -> tuple[list[HealthRule], dict[str, list[str]] | None]:
    """Every rule of a file (see `parse_rule_document`)."""
    return parse_rule_document(read_json_file(path, MAX_RULE_FILE, RuleError), str(path))


def _utc_text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the rules' `external` data says about the certificate beside its payload."""

    cert_type: str  # "v", "t" or "r"
    issuer_country: str
    iat: int
    exp: int
    kid: bytes


# (in force since, until, the rules): one cached choice of applicable rules
_Choice = tuple[dt.datetime | None, dt.datetime | None, list[HealthRule]]


class RuleSet:
    """Compiled rules plus the value sets they read, indexed for the hot path."""

    def __init__(
        self,
        rules: Iterable[HealthRule] = (),
        value_sets: Mapping[str, list[str]] | None = None,
        version: int = 0,
    ) -> None:
        self.rules = list(rules)
        seen: set[tuple[str, tuple[int, ...]]] = set()
        for rule in self.rules:
            key = (rule.identifier, rule.version)
            if key in seen:
                raise RuleError(f"{rule.identifier} version {'.'.join(map(str, rule.version))} given twice")
            seen.add(key)
        self._given_sets = dict(value_sets or {})
        # shipped EU value sets, overridden set by set by the ones given (a hub may push a newer one)
        self.value_sets = {**shipped_value_sets(), **self._given_sets}
        self.version = version
        # certificate type -> identifier -> its versions, newest ValidFrom first
        self._by_type: dict[str, dict[str, list[HealthRule]]] = {}
        for rule in sorted(self.rules, key=lambda r: r.valid_from, reverse=True):
            self._by_type.setdefault(rule.certificate_type, {}).setdefault(rule.identifier, []).append(rule)
        # Which rules apply changes only at a rule's ValidFrom or ValidTo: between two such instants the
        # choice per (type, countries) is reused instead of recomputed for every certificate.
        self._instants = sorted({t for r in self.rules for t in (r.valid_from, r.valid_to)})
        self._chosen: dict[
            tuple[str, str, str], tuple[dt.datetime | None, dt.datetime | None, list[HealthRule]]
        ]
        self._chosen = {}
        read = {path for r in self.rules for path in data_accesses(r.source["Logic"])}
        self._needs_cert_times = any(p.startswith(("external.iat", "external.exp")) for p in read)

    def __len__(self) -> int:
        return len(self.rules)

    def applicable(
        self, cert_type: str, when: dt.datetime, checkpoint_country: str, issuer_country: str
    ) -> list[HealthRule]:
        """The version of each rule that is in force at `when`, for this certificate type and countries."""
        chosen: list[HealthRule] = []
        for group in ("General", CERT_TYPES.get(cert_type, "")):
            for versions in self._by_type.get(group, {}).values():
                current = next((r for r in versions if r.valid_from <= when), None)
                if current is None or when >= current.valid_to:
                    continue
                wanted = checkpoint_country if current.type == "Acceptance" else issuer_country
                if current.country == wanted:
                    chosen.append(current)
        return chosen

    def failures(
        self,
        payload: Mapping[str, Any],
        facts: CertificateFacts,
        when: dt.datetime,
        checkpoint_country: str,
    ) -> list[RuleFailure]:
        """The applicable rules that do not evaluate to `true` on this certificate at `when`."""
        rules = self.applicable(facts.cert_type, when, checkpoint_country, facts.issuer_country)
        if not rules:
            return []
        external: dict[str, Any] = {
            "validationClock": _utc_text(when),
            "valueSets": self.value_sets,
            "countryCode": checkpoint_country,
            "issuerCountryCode": facts.issuer_country,
            "kid": base64.b64encode(facts.kid).decode("ascii"),
        }
        if self._needs_cert_times:  # formatting two more times per certificate is a third of the data cost
            external["iat"] = _utc_text(dt.datetime.fromtimestamp(facts.iat, dt.UTC))
            external["exp"] = _utc_text(dt.datetime.fromtimestamp(facts.exp, dt.UTC))
        data = {"payload": payload, "external": external}
        failed: list[RuleFailure] = []
        for rule in rules:
            try:
                result = rule.check(data)
            except (
                CertLogicError,
                ValueError,
                TypeError,
                ArithmeticError,
                LookupError,
                RecursionError,
            ) as exc:
                # hostile or odd payloads must fail the rule, never crash the kiosk (spec: "return false")
                failed.append(RuleFailure(rule, f"{type(exc).__name__}: {str(exc)[:120]}"))
                continue
            if result is not True:
                failed.append(RuleFailure(rule))
        return failed

    def document(self) -> dict[str, Any]:
        """The rule document this set came from (what the hub signs and a kiosk saves)."""
        return {"rules": [dict(r.source) for r in self.rules], "value_sets": self._given_sets}

    @classmethod
    def from_document(cls, doc: Any, version: int = 0, where: str = "rule document") -> RuleSet:
        rules, value_sets = parse_rule_document(doc, where)
        return cls(rules, value_sets, version)

    @classmethod
    def from_paths(cls, paths: Iterable[Path], value_set_paths: Iterable[Path] = ()) -> RuleSet:
        """Rules from files; value sets from `value_set_paths`, else from the files, else the shipped ones."""
        rules: list[HealthRule] = []
        from_files: dict[str, list[str]] = {}
        for path in paths:
            file_rules, file_sets = read_rule_file(path)
            rules += file_rules
            from_files.update(file_sets or {})
        given = list(value_set_paths)
        value_sets = load_value_sets(given) if given else (from_files or None)
        return cls(rules, value_sets)
