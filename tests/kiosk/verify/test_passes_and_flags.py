"""Signed checkpoint passes end to end, identity codes, flags and policy through the Verifier."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.verify.flags import FlagStatus, FlagStore, PersonFlag
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Outcome, PayloadKind
from kiosk.verify.verifier import Verifier
from provisioning.issuer import create_issuer_key, mint_pass, sign_claims
from testkit.dcc import NOW
from wire import passes
from wire.passes import PassClaims, PassScope

DAY = dt.timedelta(days=1)
ID = "001099012345"
CCCD = f"{ID}|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021".encode()
PCCOVID = f"{ID}|NGUYEN VAN AN|1999-01-01|0|123456789012345678|<1<<<".encode()


@pytest.fixture(params=["Ed25519", "ES256"])
def issuer(request, issuers):
    return issuers[request.param]


def _pass(issuer, **kw):
    args = {
        "id_number": ID,
        "name": "Nguyễn Văn An",
        "dob": "1999-01-01",
        "valid_from": NOW - DAY,
        "valid_until": NOW + 7 * DAY,
    }
    args.update(kw)
    return mint_pass(issuer, **args).encode()


def _flagged(status: FlagStatus, id_number: str = ID) -> FlagStore:
    store = FlagStore(version=1)
    store.apply_delta([PersonFlag(store.hash_id(id_number), status, int((NOW - DAY).timestamp()))], [], 2)
    return store


def test_valid_pass_passes_and_fits_a_small_qr(issuer, trust):
    raw = _pass(issuer, scope=PassScope(zones=("HN-01",), windows=((360, 1320),), plate="29C-12345"))
    # QR version 10 at error correction M holds 311 alphanumeric characters
    assert len(raw) <= 311
    verdict = Verifier(trust, policy=PolicyConfig(zone="HN-01")).verify(raw, NOW)
    assert verdict.outcome is Outcome.PASS, verdict
    assert verdict.kind is PayloadKind.PASS and verdict.reasons == ("valid_pass",)
    assert verdict.subject.id_number == ID and verdict.extra["plate"] == "29C-12345"


def test_forged_pass_other_key_is_denied(issuer, trust):
    impostor = create_issuer_key(issuer.issuer, "Ed25519" if issuer.alg == -8 else "ES256")
    verdict = Verifier(trust).verify(_pass(impostor), NOW)
    assert (verdict.outcome, verdict.failed_step, verdict.reasons) == (
        Outcome.DENY,
        "signature",
        ("kid_unknown",),
    )
    assert verdict.subject is None  # the impostor's id, name and dob are not recorded


def test_altered_claims_are_denied(issuer, trust):
    import cbor2

    from kiosk.verify.checkpoint_pass import decode_pass
    from wire.cose import encode_sign1

    good = decode_pass(_pass(issuer))
    altered = cbor2.loads(good.sign1.payload)
    altered[passes.CLAIM_PASS][1] = "079084012345"  # someone else's id
    tampered = cbor2.dumps(
        cbor2.CBORTag(18, [good.sign1.protected_raw, {}, cbor2.dumps(altered), good.sign1.signature])
    )
    verdict = Verifier(trust).verify(passes.to_text(tampered).encode(), NOW)
    assert (verdict.outcome, verdict.failed_step, verdict.reasons) == (
        Outcome.DENY,
        "signature",
        ("signature_invalid",),
    )
    assert verdict.subject is None  # "someone else's id" must not be traced to this checkpoint
    # a signature by another key under the real issuer's kid is also refused
    other = create_issuer_key("x", "ES256")
    cose = encode_sign1(good.sign1.payload, other.private_key, other.alg, issuer.kid)
    assert Verifier(trust).verify(passes.to_text(cose).encode(), NOW).outcome is Outcome.DENY


@pytest.mark.parametrize(
    ("window", "reason"),
    [((NOW - 9 * DAY, NOW - 2 * DAY), "expired"), ((NOW + 2 * DAY, NOW + 9 * DAY), "not_yet_valid")],
)
def test_pass_outside_validity_is_denied(issuer, trust, window, reason):
    verdict = Verifier(trust).verify(_pass(issuer, valid_from=window[0], valid_until=window[1]), NOW)
    assert (verdict.outcome, verdict.failed_step, verdict.reasons) == (Outcome.DENY, "validity", (reason,))
    untrusted = Verifier(trust).verify(_pass(issuer, valid_from=window[0], valid_until=window[1]), NOW, False)
    assert untrusted.outcome is Outcome.REVIEW


@pytest.mark.parametrize("how", ["pass_id", "signature"])
def test_revoked_pass_is_denied(issuer, trust, how):
    from kiosk.verify.checkpoint_pass import decode_pass
    from wire.cose import signature_hash

    raw = _pass(issuer, pass_id=b"\x01" * 8)
    decoded = decode_pass(raw)
    flags = FlagStore(version=5)
    if how == "pass_id":
        flags.pass_ids.add(b"\x01" * 8)
    else:
        flags.pass_signatures.add(signature_hash(decoded.sign1.protected[1], decoded.sign1.signature))
    verdict = Verifier(trust, flags).verify(raw, NOW)
    assert verdict.outcome is Outcome.DENY
    assert verdict.reasons[0] == ("revoked_pass_id" if how == "pass_id" else "revoked_signature")


def test_f0_is_stopped_whichever_code_carries_the_id(issuers, trust):
    flags = _flagged(FlagStatus.F0)
    lenient = PolicyConfig(identity_only="PASS")
    verifier = Verifier(trust, flags, lenient)
    for raw in (CCCD, PCCOVID, _pass(issuers["Ed25519"])):
        verdict = verifier.verify(raw, NOW)
        assert verdict.outcome is Outcome.DENY, verdict
        assert "flag_f0" in verdict.reasons
    # the same codes for an unflagged person pass
    clean = Verifier(trust, _flagged(FlagStatus.F0, "079084012345"), lenient)
    assert all(
        clean.verify(r, NOW).outcome is Outcome.PASS for r in (CCCD, PCCOVID, _pass(issuers["Ed25519"]))
    )


def test_flag_window_and_lift(trust):
    store = FlagStore(version=1)
    h = store.hash_id(ID)
    start, end = int((NOW - DAY).timestamp()), int((NOW + DAY).timestamp())
    store.apply_delta([PersonFlag(h, FlagStatus.F1, start, end)], [], 2)
    assert store.person(ID, NOW).status is FlagStatus.F1
    assert store.person(ID, NOW + 2 * DAY) is None  # ended by a time the caller proved
    assert store.person(ID, NOW - 2 * DAY).status is FlagStatus.F1  # before its start: still applies
    assert store.person(ID, None).status is FlagStatus.F1  # no proven time: no end lifts it
    with pytest.raises(ValueError):
        store.apply_delta([], [h], 2)  # not newer: a replayed delta cannot unflag
    store.apply_delta([], [h], 3)
    assert store.person(ID, NOW) is None and len(store) == 0
    assert ID.encode() not in store._hashes.tobytes()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({}, Outcome.DENY),
        ({"flag_f1": "REVIEW"}, Outcome.REVIEW),
        ({"flag_f1": "PASS", "identity_only": "PASS"}, Outcome.PASS),
    ],
)
def test_f1_outcome_is_policy(trust, policy, expected):
    verdict = Verifier(trust, _flagged(FlagStatus.F1), PolicyConfig(**policy)).verify(CCCD, NOW)
    assert verdict.outcome is expected


def test_policy_refuses_unknown_keys_and_never_passes_untrusted_clock():
    with pytest.raises(ValueError, match="unknown_key"):
        PolicyConfig.model_validate({"unknown_key": 1})
    with pytest.raises(ValueError):
        PolicyConfig.model_validate({"untrusted_clock": "PASS"})


def test_identity_only_outcome_by_checkpoint(trust):
    assert (
        Verifier(trust, policy=PolicyConfig(identity_only="PASS")).verify(CCCD, NOW).outcome is Outcome.PASS
    )
    road = Verifier(trust, policy=PolicyConfig(identity_only="REVIEW")).verify(CCCD, NOW)
    assert road.outcome is Outcome.REVIEW and road.reasons == ("identity_only",)
    masked = b"******012345|NGUYEN VAN AN|1999-**-**|0|123456789012345678|"
    verdict = Verifier(trust, policy=PolicyConfig(identity_only="PASS")).verify(masked, NOW)
    assert verdict.outcome is Outcome.REVIEW and "id_masked" in verdict.reasons
    assert verdict.subject.id_number is None


def test_kind_not_accepted(trust):
    verdict = Verifier(trust, policy=PolicyConfig(accepted_kinds={"pass"})).verify(CCCD, NOW)
    assert (verdict.outcome, verdict.reasons) == (Outcome.DENY, ("kind_not_accepted",))


def test_scope_zone_and_time_window(issuer, trust):
    raw = _pass(issuer, scope=PassScope(zones=("HN-01",), windows=((6 * 60, 22 * 60),)))
    # NOW is 10:00 UTC = 17:00 in Vietnam (UTC+7): inside 06:00-22:00
    assert Verifier(trust, policy=PolicyConfig(zone="HN-01")).verify(raw, NOW).outcome is Outcome.PASS
    wrong_zone = Verifier(trust, policy=PolicyConfig(zone="HCM-02")).verify(raw, NOW)
    assert (wrong_zone.outcome, wrong_zone.reasons[0]) == (Outcome.DENY, "out_of_zone")
    night = NOW + dt.timedelta(hours=6)  # 23:00 local
    assert (
        Verifier(trust, policy=PolicyConfig(zone="HN-01")).verify(raw, night).reasons[0]
        == "outside_time_window"
    )


def test_minting_refuses_what_a_kiosk_would_reject(issuers):
    key = issuers["Ed25519"]
    bad = PassClaims("VN", 10, 20, b"\x00" * 8, "12345", "A", "1999-01-01")
    with pytest.raises(passes.PassFormatError):
        sign_claims(key, bad)
    with pytest.raises(passes.PassFormatError):
        mint_pass(key, id_number=ID, name="A", dob="1999-02-30", valid_from=NOW, valid_until=NOW + DAY)


def test_passes_stay_strict_where_hcert_is_lenient(issuer, trust):
    """Our own format: tag 18 required and integer times only (HC1 accepts both variations)."""
    import cbor2

    from kiosk.verify.checkpoint_pass import decode_pass
    from wire.cose import encode_sign1

    good = decode_pass(_pass(issuer))
    items = [good.sign1.protected_raw, {}, good.sign1.payload, good.sign1.signature]
    untagged = Verifier(trust).verify(passes.to_text(cbor2.dumps(items)).encode(), NOW)
    assert (untagged.outcome, untagged.failed_step, untagged.reasons) == (
        Outcome.DENY,
        "cbor",
        ("cose_not_sign1",),
    )
    claims = cbor2.loads(good.sign1.payload)
    claims[6] = float(claims[6])
    cose = encode_sign1(cbor2.dumps(claims), issuer.private_key, issuer.alg, issuer.kid)
    floats = Verifier(trust).verify(passes.to_text(cose).encode(), NOW)
    assert (floats.failed_step, floats.reasons) == ("cbor", ("pass_times_invalid",))
