"""The health rules and value sets the hub pushes to every kiosk (a signed, versioned, retained document).

Operators set the complete set from EU-format rule files and EU value-set files (`hub rules set`);
every rule is checked exactly as a kiosk will check it (common/healthrules.py: fields, CertLogic
validation, compilation) before anything is stored, so an operator cannot push a set kiosks would
refuse. Each change is a new version, audited with the identifiers and versions of its rules.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from common.healthrules import RuleError, RuleSet, parse_rule_document
from common.jsonfile import read_json_file
from common.valuesets import ValueSetError, parse_value_set
from hub.db import Database
from hub.documents import current_document, set_document

RULES_DOC = "health-rules"
MAX_FILE = 4 * 1024 * 1024


class RulesError(ValueError):
    """A file that is neither a valid rule file nor an EU value set; the message names it and the rule."""


def rule_set_from_paths(paths: list[Path]) -> RuleSet:
    """Rule files and value-set files (or directories of *.json holding either), checked as a kiosk would."""
    files = [f for p in paths for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    rules = []
    value_sets: dict[str, list[str]] = {}
    try:
        for file in files:
            doc = read_json_file(file, MAX_FILE, RuleError)  # each file read and parsed once
            if isinstance(doc, dict) and "valueSetId" in doc:
                vs_id, codes = parse_value_set(doc, str(file))
                value_sets[vs_id] = codes
                continue
            file_rules, file_sets = parse_rule_document(doc, str(file))
            rules += file_rules
            value_sets.update(file_sets or {})
        if not rules:
            raise RulesError(f"no rule found in {', '.join(map(str, paths))}")
        return RuleSet(rules, value_sets)
    except (RuleError, ValueSetError) as exc:
        raise RulesError(str(exc)) from None


def set_rules(db: Database, rules: RuleSet, *, actor: str, now: dt.datetime) -> int:
    """Replace the rule set; returns its new version (the running hub publishes it within a second)."""
    detail = {"rules": [f"{r.identifier}@{'.'.join(map(str, r.version))}" for r in rules.rules]}
    detail["value_sets"] = sorted(rules.document()["value_sets"])
    return set_document(
        db, RULES_DOC, rules.document(), actor=actor, now=now, action="rules.set", detail=detail
    )


def current_rules(db: Database) -> tuple[int, dict[str, Any]] | None:
    return current_document(db, RULES_DOC)


def summary(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per rule for operators (CLI, API, dashboard): what it checks, when, in both languages."""
    rows = []
    for rule in body.get("rules", []):
        desc = {d.get("lang"): d.get("desc") for d in rule.get("Description", []) if isinstance(d, dict)}
        rows.append(
            {
                "identifier": rule.get("Identifier"),
                "version": rule.get("Version"),
                "type": rule.get("Type"),
                "country": rule.get("Country"),
                "certificate_type": rule.get("CertificateType"),
                "valid_from": rule.get("ValidFrom"),
                "valid_to": rule.get("ValidTo"),
                "description_vi": desc.get("vi") or desc.get("en"),
                "description_en": desc.get("en") or desc.get("vi"),
            }
        )
    return rows
