"""HCERT interop: every encoding the HCERT specification and the EU reference verifiers accept
verifies (ES256 and PS256), and payloads of every released schema version are checked against
their own official schema. The negatives are in test_hc1_negatives.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from kiosk.verify.dcc_schema import DccSchema, compile_schema, load_schema, released_versions
from kiosk.verify.flags import FlagStore
from kiosk.verify.hc1 import decode_hc1
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW, SCHEMA_VERSIONS, Hc1Spec, build_hc1, dcc_example
from wire.cose import ALG_ES256, signature_hash

# the shared spec folder sits next to the checkout (../shared), or next to the worktrees' folder
_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = next(
    (d for d in (p / "shared" / "spec" / "dcc-schema" for p in _ROOT.parents[:2]) if d.is_dir()),
    _ROOT.parent / "shared" / "spec" / "dcc-schema",
)
TYPES = ("v", "t", "r")
T = NOW.timestamp()

# Encodings national issuers use, each allowed by the HCERT spec (dgc-testdata CO18-CO21 for kid).
VARIANTS = {
    "float_times": {"times": "float"},
    "fractional_times": {"claims_override": {6: T - 86400.75, 4: T + 86400 * 30 + 0.25}},
    "untagged": {"tagged": False},
    "cwt_tag": {"cwt_tag": True},
    "co19_kid_unprotected": {"kid_in": "unprotected"},
    "co20_kid_both": {"kid_in": "both"},
    "co21_kid_unprotected_wrong": {"kid_in": "both", "unprotected_kid": b"\x00" * 8},
    "alg_unprotected_empty_bstr": {"alg_in": "unprotected", "kid_in": "unprotected"},
    "alg_unprotected_empty_map": {"alg_in": "unprotected", "kid_in": "unprotected", "empty_protected": "map"},
    "alg_in_both_headers_same": {"alg_in": "both"},
    "everything_at_once": {
        "times": "float",
        "tagged": False,
        "alg_in": "unprotected",
        "kid_in": "unprotected",
    },
}


@pytest.fixture(params=["ES256", "PS256"])
def base(request, signers):
    return Hc1Spec(signer=signers[request.param]["any"])


@pytest.fixture(scope="module")
def verifier(trust):
    return Verifier(trust)


def _verify(verifier, spec, now=NOW):
    return verifier.verify(build_hc1(spec).encode(), now)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_issuer_encodings_pass(base, verifier, variant):
    verdict = _verify(verifier, dataclasses.replace(base, **VARIANTS[variant]))
    assert (verdict.outcome, verdict.failed_step, verdict.reasons) == (Outcome.PASS, None, ("valid_hc1",)), (
        verdict
    )
    assert verdict.subject.name == "Nguyễn Văn An"


def test_fractional_times_never_widen_the_window(base, trust):
    """iat rounds up and exp rounds down: half a second either way is outside, not inside."""
    strict = Verifier(trust, policy=PolicyConfig(clock_skew_s=0))
    late_iat = dataclasses.replace(base, claims_override={6: T + 0.5})
    assert _verify(strict, late_iat).reasons == ("not_yet_valid",)
    early_exp = dataclasses.replace(base, claims_override={6: T - 86400, 4: T - 0.5})
    assert _verify(strict, early_exp).reasons == ("expired",)
    inside = dataclasses.replace(base, claims_override={6: T - 0.5, 4: T + 0.5})
    assert _verify(strict, inside).outcome is Outcome.PASS
    hc1 = decode_hc1(build_hc1(dataclasses.replace(base, claims_override={6: T - 0.5, 4: T + 0.5})).encode())
    assert (hc1.iat, hc1.exp) == (int(T), int(T)) and type(hc1.iat) is int


def test_revocation_hash_uses_the_unprotected_alg(signers, trust):
    """ES256 hashes only `r` of the signature, also when alg sits in the unprotected header."""
    spec = Hc1Spec(signer=signers["ES256"]["any"], alg_in="unprotected", kid_in="unprotected")
    text = build_hc1(spec).encode()
    sign1 = decode_hc1(text).sign1
    flags = FlagStore(version=2)
    flags.hc1_signature.add(signature_hash(ALG_ES256, sign1.signature))
    verdict = Verifier(trust, flags).verify(text, NOW)
    assert (verdict.outcome, verdict.reasons[0]) == (Outcome.DENY, "revoked_signature")


# -- the payload against the official schema of its version ----------------------------------------


def test_every_released_version_is_shipped():
    assert released_versions() == SCHEMA_VERSIONS


@pytest.mark.skipif(not SPEC_DIR.is_dir(), reason="the shared spec folder is not next to this checkout")
@pytest.mark.parametrize("ver", SCHEMA_VERSIONS)
def test_vendored_schema_is_the_official_one(ver):
    assert load_schema(ver) == json.loads((SPEC_DIR / f"{ver}.json").read_text("utf-8"))


@pytest.mark.parametrize("ver", SCHEMA_VERSIONS)
@pytest.mark.parametrize("cert_type", TYPES)
def test_examples_follow_the_official_schema(ver, cert_type):
    """The test material itself, checked by plain jsonschema against the unmodified schema."""
    validator = Draft202012Validator(load_schema(ver))
    errors = [e.message for e in validator.iter_errors(dcc_example(ver, cert_type))]
    assert errors == []


@pytest.mark.parametrize("ver", SCHEMA_VERSIONS)
@pytest.mark.parametrize("cert_type", TYPES)
def test_every_version_and_type_passes(base, verifier, ver, cert_type):
    verdict = _verify(
        verifier, dataclasses.replace(base, cert_type=cert_type, dcc=dcc_example(ver, cert_type))
    )
    assert verdict.outcome is Outcome.PASS, (ver, verdict)
    assert verdict.extra["cert_type"] == cert_type


@pytest.mark.parametrize("ver", SCHEMA_VERSIONS)
def test_compiled_validator_agrees_with_plain_jsonschema(ver):
    """Inlining the `$ref`s changes speed, not verdicts: same answers on every version's examples
    and on each of them with a required field removed."""
    schema = load_schema(ver)
    plain, fast = Draft202012Validator(schema), compile_schema(schema)
    docs = []
    for other in SCHEMA_VERSIONS:
        for cert_type in TYPES:
            doc = dcc_example(other, cert_type)
            docs.append(doc)
            for field in doc[cert_type][0]:
                docs.append({**doc, cert_type: [{k: v for k, v in doc[cert_type][0].items() if k != field}]})
            for field in ("nam", "dob", "ver"):
                docs.append({k: v for k, v in doc.items() if k != field})
    answers = [(plain.is_valid(d), fast.is_valid(d)) for d in docs]
    assert all(p == f for p, f in answers)
    assert {p for p, _ in answers} == {True, False}  # the comparison saw both outcomes


def test_unknown_version_is_checked_against_1_3_0(base, verifier):
    future = {**dcc_example("1.3.0", "t"), "ver": "1.4.0"}
    assert _verify(verifier, dataclasses.replace(base, cert_type="t", dcc=future)).outcome is Outcome.PASS
    # a forename-only name is valid from 1.3.2 on, so 1.3.0's rules must be the ones applied
    forename_only = {**dcc_example("1.3.3", "v"), "ver": "1.4.0"}
    verdict = _verify(verifier, dataclasses.replace(base, dcc=forename_only))
    assert (verdict.failed_step, verdict.reasons) == ("schema", ("schema_invalid",))


@pytest.mark.parametrize("offset", ["+0700", "+07", "+07:00"])
def test_sample_time_offsets_of_the_schema_projects_valid_cases_pass(base, verifier, offset):
    """eu-dcc-schema test/valid T-rat-dates1..3: `format` is an annotation, not an assertion."""
    dcc = dcc_example("1.3.1", "t")
    dcc["t"][0]["sc"] = "2026-11-21T15:00:00" + offset
    assert _verify(verifier, dataclasses.replace(base, cert_type="t", dcc=dcc)).outcome is Outcome.PASS


def test_validators_are_compiled_once_and_lazily():
    schema = DccSchema()
    assert schema._validators == {}
    first = schema.validator("1.2.1")
    assert schema.validator("1.2.1") is first and set(schema._validators) == {"1.2.1"}
    assert schema.validator("9.9.9") is schema.validator(None) is schema.validator("1.3.0")
    assert set(schema._validators) == {"1.2.1", "1.3.0"}


def test_schema_step_survives_odd_cbor_values(base, verifier):
    """CBOR can carry what JSON cannot (bytes, integer keys, big integers): a DENY, never a crash."""
    odd = {**dcc_example("1.3.0", "v"), 7: b"\x00", "dob": 2**70}
    verdict = _verify(verifier, dataclasses.replace(base, dcc=odd))
    assert (verdict.outcome, verdict.failed_step) == (Outcome.DENY, "schema")


def test_clock_skew_applies_after_rounding(base, trust):
    """The default skew tolerance still applies to a float claim (rounding happens first)."""
    skew = PolicyConfig().clock_skew_s
    spec = dataclasses.replace(base, claims_override={6: T + skew - 0.5})
    assert _verify(Verifier(trust), spec).outcome is Outcome.PASS
    spec = dataclasses.replace(base, claims_override={6: T + skew + 0.5})
    assert _verify(Verifier(trust), spec).reasons == ("not_yet_valid",)
