"""Health rules on real-shaped certificates: the shipped Vietnamese rules (examples/rules/vietnam-2021.json)
decides what a signature alone cannot — a positive test, a partial course, a stale test, an expired recovery
are DENY with the rule's own words; their valid counterparts PASS. Both signature algorithms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from common.healthrules import RuleSet, parse_rule
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW, Hc1Spec, build_hc1, dcc_payload

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "examples" / "rules" / "vietnam-2021.json"
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _vaccination(**changes: object) -> dict:
    dcc = dcc_payload("v")
    dcc["v"][0].update({"dt": (NOW - 60 * DAY).date().isoformat(), **changes})
    return dcc


def _test(**changes: object) -> dict:
    dcc = dcc_payload("t")
    dcc["t"][0].update({"sc": _iso(NOW - 20 * HOUR), **changes})
    return dcc


def _recovery(days_ago: int) -> dict:
    dcc = dcc_payload("r")
    first = (NOW - days_ago * DAY).date()
    dcc["r"][0].update({"fr": first.isoformat(), "df": (first + 11 * DAY).isoformat(),
                        "du": (first + 180 * DAY).isoformat()})  # fmt: skip
    return dcc


PASSING = {
    "complete course, 60 days": _vaccination(),
    "complete course, booster 3/3": _vaccination(dn=3, sd=3),
    "NAAT negative, 20 h": _test(),
    "rapid antigen negative, 20 h": _test(tt="LP217198-3"),
    "recovered 30 days ago": _recovery(30),
}
FAILING = {
    "positive NAAT": (_test(tr="260373001"), "TR-VN-0001", "dương tính"),
    "first of two doses": (_vaccination(dn=1, sd=2), "VR-VN-0001", "Chưa tiêm đủ liều"),
    "last dose 5 days ago": (_vaccination(dt=(NOW - 5 * DAY).date().isoformat()), "VR-VN-0002", "14 ngày"),
    "last dose 13 months ago": (
        _vaccination(dt=(NOW - 400 * DAY).date().isoformat()),
        "VR-VN-0003",
        "12 tháng",
    ),
    "vaccine not recognised": (_vaccination(mp="Sputnik-Light-XYZ"), "VR-VN-0004", "danh mục"),
    "NAAT sampled 80 h ago": (_test(sc=_iso(NOW - 80 * HOUR)), "TR-VN-0003", "72 giờ"),
    "ten-month-old test": (_test(sc=_iso(NOW - 300 * DAY)), "TR-VN-0003", "72 giờ"),
    "rapid antigen 30 h ago": (_test(tt="LP217198-3", sc=_iso(NOW - 30 * HOUR)), "TR-VN-0004", "24 giờ"),
    "sample time in the future": (_test(sc=_iso(NOW + 5 * HOUR)), "TR-VN-0005", "tương lai"),
    "recovery past day 180": (_recovery(200), "RR-VN-0002", "180 ngày"),
    "recovery before day 11": (_recovery(5), "RR-VN-0001", "11 ngày"),
}


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return RuleSet.from_paths([SHIPPED])


@pytest.fixture(params=["ES256", "PS256"])
def signer(request, signers):
    return signers[request.param]["any"]


def _hc1(signer, dcc: dict) -> bytes:
    cert_type = next(t for t in ("v", "t", "r") if t in dcc)
    return build_hc1(Hc1Spec(signer, cert_type=cert_type, dcc=dcc)).encode()


@pytest.mark.parametrize("case", PASSING)
def test_valid_certificates_pass_the_shipped_rules(case, signer, trust, shipped) -> None:
    verdict = Verifier(trust, rules=shipped).verify(_hc1(signer, PASSING[case]), NOW)
    assert verdict.outcome.value == "PASS", verdict
    assert "rules_failed" not in verdict.extra and verdict.extra["rules_version"] == 0


@pytest.mark.parametrize("case", FAILING)
def test_each_rule_denies_with_its_own_description(case, signer, trust, shipped) -> None:
    dcc, identifier, words = FAILING[case]
    verdict = Verifier(trust, rules=shipped).verify(_hc1(signer, dcc), NOW)
    assert verdict.outcome.value == "DENY"
    assert verdict.reasons[0] == "rule_failed"
    assert identifier in verdict.extra["rules_failed"]
    assert words in verdict.message_vi  # the rule's Vietnamese description is what the screen shows
    assert verdict.subject is not None and verdict.subject.name  # a denied traveller is still named


def test_without_rules_the_verdict_is_the_signature_level_one(signer, trust) -> None:
    positive = FAILING["positive NAAT"][0]
    verdict = Verifier(trust).verify(_hc1(signer, positive), NOW)
    assert verdict.outcome.value == "PASS" and verdict.reasons == ("valid_hc1",)


def test_untrusted_clock_never_passes_and_denies_only_what_needs_no_clock(signer, trust, shipped) -> None:
    verifier = Verifier(trust, rules=shipped)
    stale = verifier.verify(_hc1(signer, FAILING["NAAT sampled 80 h ago"][0]), NOW, clock_trusted=False)
    assert stale.outcome.value == "REVIEW" and "rule_failed" in stale.reasons  # the clock may be wrong
    positive = verifier.verify(_hc1(signer, FAILING["positive NAAT"][0]), NOW, clock_trusted=False)
    assert positive.outcome.value == "DENY"  # a positive result is positive at any time
    valid = verifier.verify(_hc1(signer, PASSING["NAAT negative, 20 h"]), NOW, clock_trusted=False)
    assert valid.outcome.value == "REVIEW"


def test_checkpoint_policy_chooses_the_certificate_types(signer, trust, shipped) -> None:
    policy = PolicyConfig(hc1_types=frozenset({"v"}))
    verdict = Verifier(trust, policy=policy, rules=shipped).verify(
        _hc1(signer, PASSING["NAAT negative, 20 h"]), NOW
    )
    assert verdict.outcome.value == "DENY" and "kind_not_accepted" in verdict.reasons


def _rule(identifier: str = "TR-VN-0099", **changes: object) -> dict:
    rule = {
        "Identifier": identifier, "Type": "Acceptance", "Country": "VN", "Version": "1.0.0",
        "SchemaVersion": "1.3.0", "Engine": "CERTLOGIC", "EngineVersion": "1.3.3", "CertificateType": "Test",
        "Description": [{"lang": "en", "desc": "only rapid antigen tests"}],
        "ValidFrom": "2026-01-01T00:00:00Z", "ValidTo": "2027-01-01T00:00:00Z", "AffectedFields": ["t.0.tt"],
        "Logic": {"===": [{"var": "payload.t.0.tt"}, "LP217198-3"]},
    }  # fmt: skip
    rule.update(changes)
    return rule


def test_only_rules_in_force_for_this_country_apply(signer, trust) -> None:
    naat = _hc1(signer, PASSING["NAAT negative, 20 h"])
    cases = {
        "in force": (_rule(), "DENY"),
        "not yet in force": (_rule(ValidFrom="2026-12-01T00:00:00Z"), "PASS"),
        "no longer in force": (_rule(ValidTo="2026-11-01T00:00:00Z"), "PASS"),
        "another country's acceptance rule": (_rule("TR-DE-0099", Country="DE"), "PASS"),
        "the issuing country's invalidation rule": (_rule("IR-VN-0099", Type="Invalidation"), "DENY"),
        "another issuer's invalidation rule": (
            _rule("IR-FR-0099", Type="Invalidation", Country="FR"),
            "PASS",
        ),
        "a rule for vaccinations only": (_rule("VR-VN-0099", CertificateType="Vaccination"), "PASS"),
        "a general rule": (_rule("GR-VN-0099", CertificateType="General"), "DENY"),
    }
    for name, (rule, expected) in cases.items():
        verdict = Verifier(trust, rules=RuleSet([parse_rule(rule)])).verify(naat, NOW)
        assert verdict.outcome.value == expected, name


def test_the_newest_version_in_force_wins(signer, trust) -> None:
    older = _rule(Version="1.0.0", ValidFrom="2026-01-01T00:00:00Z")
    newer = _rule(Version="1.1.0", ValidFrom="2026-06-01T00:00:00Z", Logic={"===": [1, 1]})
    future = _rule(Version="2.0.0", ValidFrom="2026-12-01T00:00:00Z")
    rules = RuleSet([parse_rule(r) for r in (older, newer, future)])
    naat = _hc1(signer, PASSING["NAAT negative, 20 h"])
    assert Verifier(trust, rules=rules).verify(naat, NOW).outcome.value == "PASS"  # 1.1.0 replaced 1.0.0
    later = NOW.replace(year=2026, month=12, day=15)
    assert "rules_failed" in Verifier(trust, rules=rules).verify(naat, later).extra  # 2.0.0 from December


def test_a_rule_that_errors_on_a_hostile_payload_fails_closed(signer, trust) -> None:
    # `in` needs an array; here it gets the certificate's test type (a string): evaluation itself fails
    rule = _rule(Logic={"in": ["x", {"var": "payload.t.0.tt"}]})
    verdict = Verifier(trust, rules=RuleSet([parse_rule(rule)])).verify(_hc1(signer, _test()), NOW)
    assert verdict.outcome.value == "DENY" and verdict.extra["rules_failed"] == ["TR-VN-0099"]
