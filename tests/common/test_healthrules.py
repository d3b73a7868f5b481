"""Rule documents as an operator writes them: every mistake is refused with the file, the rule and the field
named, before anything reaches a kiosk; value sets come from the package unless given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.healthrules import RuleError, RuleSet, parse_rule, read_rule_file
from common.valuesets import ValueSetError, load_value_sets, shipped_value_sets

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "examples" / "rules" / "vietnam-2021.json"


def good_rule(**changes: object) -> dict:
    rule = json.loads(SHIPPED.read_text("utf-8"))["rules"][0]
    rule.update(changes)
    return rule


def test_the_shipped_rules_parse_and_cover_every_certificate_type() -> None:
    rules, value_sets = read_rule_file(SHIPPED)
    assert value_sets is None  # the shipped EU value sets apply
    assert {r.certificate_type for r in rules} == {"General", "Vaccination", "Test", "Recovery"}
    assert all(r.description("vi") and r.description("en") for r in rules)
    clock_readers = {r.identifier for r in rules if r.reads_clock}
    assert "TR-VN-0003" in clock_readers and "TR-VN-0001" not in clock_readers


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"Identifier": "VN-0001"}, "Identifier"),
        ({"Type": "Allow"}, "Type"),
        ({"Country": "vn"}, "Country"),
        ({"Engine": "JSONLOGIC"}, "Engine"),
        ({"CertificateType": "Any"}, "CertificateType"),
        ({"Description": []}, "Description"),
        ({"ValidFrom": "2021-10-11"}, "ValidFrom"),
        ({"ValidTo": "2020-01-01T00:00:00Z"}, "ValidTo must be after ValidFrom"),
        ({"Logic": {"unknownOp": [1, 2]}}, "Logic"),
        ({"Logic": {"var": 42}}, "Logic"),
        ({"Logic": "true"}, "Logic"),
        ({"Surprise": 1}, "Surprise"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_the_field(change: dict, named: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(good_rule(**change), "rules.json[0]")
    assert "rules.json[0]" in str(err.value) and named in str(err.value)


def test_one_bad_rule_refuses_the_whole_file(tmp_path: Path) -> None:
    """A rule set is all or nothing: silently dropping a rule would let through what it should stop."""
    doc = json.loads(SHIPPED.read_text("utf-8"))
    doc["rules"][3]["Logic"] = {"+": [1]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(RuleError, match=r"rules.json\[3\]"):
        read_rule_file(path)


def test_the_same_rule_version_twice_is_refused() -> None:
    with pytest.raises(RuleError, match="given twice"):
        RuleSet([parse_rule(good_rule()), parse_rule(good_rule())])


def test_rule_files_may_hold_one_rule_a_list_or_a_document(tmp_path: Path) -> None:
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    one.write_text(json.dumps(good_rule()))
    many.write_text(json.dumps([good_rule(Version="1.0.1"), good_rule(Version="1.0.2")]))
    assert len(RuleSet.from_paths([one, many])) == 3
    not_rules = tmp_path / "text.json"
    not_rules.write_text('"a string"')
    with pytest.raises(RuleError, match=r"text\.json"):
        RuleSet.from_paths([not_rules])


def test_value_sets_ship_with_the_package_and_can_be_overridden(tmp_path: Path) -> None:
    shipped = shipped_value_sets()
    assert "EU/1/20/1528" in shipped["vaccines-covid-19-names"]
    assert set(shipped["covid-19-lab-test-type"]) == {"LP6464-4", "LP217198-3"}
    newer = tmp_path / "vs.json"
    newer.write_text(json.dumps({"valueSetId": "covid-19-lab-test-type", "valueSetValues": {"LP6464-4": {}}}))
    rules = RuleSet([parse_rule(good_rule())], load_value_sets([newer]))
    assert rules.value_sets["covid-19-lab-test-type"] == ["LP6464-4"]
    assert "vaccines-covid-19-names" in rules.value_sets  # the others stay the shipped ones
    assert rules.document()["value_sets"] == {"covid-19-lab-test-type": ["LP6464-4"]}
    broken = tmp_path / "broken.json"
    broken.write_text('{"valueSetId": "x"}')
    with pytest.raises(ValueSetError, match=r"broken\.json"):
        load_value_sets([broken])


def test_a_rule_document_round_trips() -> None:
    rules = RuleSet.from_paths([SHIPPED])
    again = RuleSet.from_document(json.loads(json.dumps(rules.document())), version=7)
    assert [r.identifier for r in again.rules] == [r.identifier for r in rules.rules] and again.version == 7
