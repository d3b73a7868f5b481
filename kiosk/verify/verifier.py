"""The verifier: raw QR bytes -> Verdict, as a pure function of (payload, trust, flags, rules, policy, now).

Order of checks for signed codes (HC1 and passes share every step they have in common):
prefix, base45, [decompress], cbor, signature, key_usage, validity, schema; then (HC1) the
health rules in force at scan time, revocation, person flags and scope. The first failing
decoding/crypto step ends verification with DENY and names the step; later findings (rules,
flags, clock, scope) are collected and the worst outcome wins.

Never raises on payload content: every parser failure is a reason code.

A signed code's subject (name, date of birth, id) is part of the verdict, and so of the record, only
once its signature and key usage have been verified: the fields of a forged or unsigned code are
whatever the person holding it typed, so they are neither evidence nor safe to store. Identity codes
(CCCD, PC-Covid) carry no signature and are recorded as read: the officer saw them, and a stopped F0
must stay traceable. An untrusted clock never yields PASS for a signed code (policy.untrusted_clock:
REVIEW by default), except that what the proven time floor decides is decided (a code expired before
the floor is DENY `expired`); a person flag applies whatever the clock says
(kiosk/verify/timecontext.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from common.healthrules import CertificateFacts, RuleFailure, RuleSet
from common.trust import PURPOSE_DCC, PURPOSE_PASS, TrustStore
from kiosk.verify.cccd import looks_like_cccd, parse_cccd
from kiosk.verify.checkpoint_pass import decode_pass
from kiosk.verify.dcc_schema import DccSchema
from kiosk.verify.flags import FlagStore
from kiosk.verify.hc1 import PREFIX as HC1_PREFIX
from kiosk.verify.hc1 import decode_hc1
from kiosk.verify.identity import MAX_IDENTITY_BYTES, IdentityParseError, decode_text
from kiosk.verify.messages import describe
from kiosk.verify.pccovid import looks_like_pccovid, parse_pccovid
from kiosk.verify.policy import PolicyConfig, in_window
from kiosk.verify.signed import (
    STEP_KEY_USAGE,
    STEP_VALIDITY,
    StepFailure,
    check_signature,
    check_signer_at_iat,
    check_window,
)
from kiosk.verify.timecontext import TimeContext
from kiosk.verify.verdict import Outcome, PayloadKind, Subject, Verdict
from wire import passes
from wire.cose import ALG_EDDSA, ALG_ES256, ALG_PS256, signature_hash

HC1_ALGS = frozenset({ALG_ES256, ALG_PS256})
PASS_ALGS = frozenset({ALG_EDDSA, ALG_ES256})
MAX_RAW = 8 * 1024
_SEVERITY = {Outcome.PASS: 0, Outcome.REVIEW: 1, Outcome.DENY: 2}

Finding = tuple[Outcome, str]


def classify(raw: bytes) -> PayloadKind:
    """Which parser a payload belongs to, from its shape only (validity is the parser's job)."""
    if raw.startswith(HC1_PREFIX) or (raw[:2].upper() == b"HC" and b":" in raw[2:5]):
        return PayloadKind.HC1  # near-misses ("HC2:", "hc1:") go to HC1 so the prefix step names them
    if passes.is_pass_text(raw):
        return PayloadKind.PASS
    if len(raw) > MAX_IDENTITY_BYTES:
        return PayloadKind.UNKNOWN
    text = decode_text(raw)
    if text is None:
        return PayloadKind.UNKNOWN
    if looks_like_pccovid(text):
        return PayloadKind.PCCOVID
    if looks_like_cccd(text):
        return PayloadKind.CCCD
    return PayloadKind.UNKNOWN


def make_verdict(
    kind: PayloadKind,
    findings: list[Finding],
    subject: Subject | None = None,
    failed_step: str | None = None,
    flags_version: int | None = None,
    extra: dict[str, object] | None = None,
) -> Verdict:
    """Worst outcome wins; reasons are listed worst first; the message explains the outcome."""
    outcome = max((o for o, _ in findings), key=_SEVERITY.__getitem__)
    ordered = sorted(findings, key=lambda f: -_SEVERITY[f[0]])
    reasons = tuple(dict.fromkeys(r for _, r in ordered))
    vi, en = describe(dict.fromkeys(r for o, r in ordered if o is outcome))
    return Verdict(outcome, kind, reasons, vi, en, subject, failed_step, flags_version, extra or {})


def _with_validity(valid_reason: str, time_findings: list[Finding]) -> list[Finding]:
    """The success reason, unless the time window failed (untrusted clock): then that says it."""
    if any(r in ("expired", "not_yet_valid") for _, r in time_findings):
        return list(time_findings)
    return [(Outcome.PASS, valid_reason), *time_findings]


def _explained_by_rules(verdict: Verdict, failures: list[RuleFailure]) -> Verdict:
    """When failed rules decide the outcome, the screen shows their own descriptions (Vietnamese, else
    English), the words the rule's authors chose, instead of a generic 'does not meet the rules'."""
    if not failures or verdict.reasons[0] != "rule_failed":
        return verdict
    shown = failures[:3]
    vi = "; ".join(f.rule.description("vi") or f.rule.description("en") or f.identifier for f in shown)
    en = "; ".join(f.rule.description("en") or f.rule.description("vi") or f.identifier for f in shown)
    return dataclasses.replace(verdict, message_vi=vi, message_en=en)


class Verifier:
    """Holds the (read-only during a verify) trust store, flag store and policy."""

    def __init__(
        self,
        trust: TrustStore,
        flags: FlagStore | None = None,
        policy: PolicyConfig | None = None,
        rules: RuleSet | None = None,
    ) -> None:
        self.trust = trust
        self.flags = flags if flags is not None else FlagStore()
        self.policy = policy if policy is not None else PolicyConfig()
        self.rules = rules if rules is not None else RuleSet()  # none: signature-level verdicts only
        self._schema = DccSchema()

    def verify(
        self,
        raw: bytes,
        now: dt.datetime,
        clock_trusted: bool = True,
        *,
        floor: dt.datetime | None = None,
        hub_now: dt.datetime | None = None,
    ) -> Verdict:
        """`floor` and `hub_now`: the times the kiosk has proven (see TimeContext); None if unknown."""
        t = TimeContext.of(now, clock_trusted, floor, hub_now)
        if len(raw) > MAX_RAW:
            return self._deny(PayloadKind.UNKNOWN, "payload_too_large")
        kind = classify(raw)
        if kind is PayloadKind.UNKNOWN:
            return self._deny(kind, "unknown_payload")
        if kind.value not in self.policy.accepted_kinds:
            return self._deny(kind, "kind_not_accepted")
        if kind is PayloadKind.HC1:
            return self._verify_hc1(raw, t)
        if kind is PayloadKind.PASS:
            return self._verify_pass(raw, t)
        return self._verify_identity(kind, raw, t)

    # -- helpers ---------------------------------------------------------------------------
    def _deny(
        self, kind: PayloadKind, reason: str, step: str | None = None, subject: Subject | None = None
    ) -> Verdict:
        return make_verdict(kind, [(Outcome.DENY, reason)], subject, step, self.flags.version)

    def _flag_findings(self, id_number: str | None, t: TimeContext) -> list[Finding]:
        """A held flag applies whatever its start time says; only a proven time ends it."""
        if id_number is None:
            return []
        hit = self.flags.person(id_number, t.flag_end_cutoff())
        if hit is None:
            return []
        name = hit.status.name
        return [(self.policy.outcome_for_flag(name), f"flag_{name.lower()}")]

    def _time_findings(self, iat: int, exp: int, t: TimeContext) -> list[Finding]:
        """Window check; with an untrusted clock a failure is not proof, so it earns the policy's
        untrusted-clock outcome (REVIEW by default) instead of DENY, and never PASS. Expiry before
        the proven floor is proof, whatever the clock says: DENY `expired`."""
        skew = self.policy.clock_skew_s
        if not t.trusted and t.expired_before_floor(exp, skew):
            return [(Outcome.DENY, "expired")]
        problem = check_window(iat, exp, t.now, skew)
        untrusted = Outcome(self.policy.untrusted_clock)
        found: list[Finding] = []
        if problem:
            found.append((Outcome.DENY if t.trusted else untrusted, problem))
        if not t.trusted:
            found.append((untrusted, "clock_untrusted"))
        return found

    # -- identity codes ----------------------------------------------------------------------
    def _verify_identity(self, kind: PayloadKind, raw: bytes, t: TimeContext) -> Verdict:
        try:
            parsed = parse_cccd(raw) if kind is PayloadKind.CCCD else parse_pccovid(raw)
        except IdentityParseError as exc:
            return self._deny(kind, exc.reason)
        subject = Subject(parsed.id_number, parsed.name, parsed.dob)
        findings: list[Finding] = [(Outcome(self.policy.identity_only), "identity_only")]
        if parsed.id_number is None:
            findings.append((Outcome(self.policy.masked_id), "id_masked"))
        findings += self._flag_findings(parsed.id_number, t)
        return make_verdict(kind, findings, subject, None, self.flags.version)

    # -- HC1 ---------------------------------------------------------------------------------
    def _verify_hc1(self, raw: bytes, t: TimeContext) -> Verdict:
        kind = PayloadKind.HC1
        try:
            hc1 = decode_hc1(raw)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)
        try:
            key = check_signature(hc1.sign1, self.trust, HC1_ALGS, PURPOSE_DCC)
            cert_type = hc1.cert_type
            if key.allowed_types is not None and (cert_type is None or cert_type not in key.allowed_types):
                raise StepFailure(STEP_KEY_USAGE, "key_usage")
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)  # no subject: nobody vouches for it
        subject = hc1.subject()
        try:
            check_signer_at_iat(key, hc1.iat)
            time_findings = self._time_findings(hc1.iat, hc1.exp, t)
            if any(o is Outcome.DENY for o, _ in time_findings):
                raise StepFailure(STEP_VALIDITY, time_findings[0][1])
            self._schema.check(hc1.dcc)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step, subject)
        findings = _with_validity("valid_hc1", time_findings)
        failures: list[RuleFailure] = []
        if cert_type not in self.policy.hc1_types:
            findings.append((Outcome.DENY, "kind_not_accepted"))
        elif len(self.rules):
            facts = CertificateFacts(cert_type, hc1.issuer_country, hc1.iat, hc1.exp, key.kid)
            failures = self.rules.failures(hc1.dcc, facts, t.now, self.policy.country)
            findings += self._rule_findings(failures, t.trusted)
        revoked = self.flags.hc1_revoked(
            hc1.uci, hc1.country, signature_hash(hc1.sign1.alg, hc1.sign1.signature)
        )
        if revoked:
            findings.append((Outcome.DENY, revoked))
        step = STEP_VALIDITY if any(r in ("expired", "not_yet_valid") for _, r in time_findings) else None
        extra: dict[str, object] = {"cert_type": cert_type}
        if len(self.rules):
            extra["rules_version"] = self.rules.version
        if failures:
            extra["rules_failed"] = [f.identifier for f in failures]
        verdict = make_verdict(kind, findings, subject, step, self.flags.version, extra)
        return _explained_by_rules(verdict, failures)

    def _rule_findings(self, failures: list[RuleFailure], clock_trusted: bool) -> list[Finding]:
        """A failed rule denies; with an untrusted clock, one that reads the clock only sends to the officer
        (the clock may be what failed it), and never passes (the time findings already say REVIEW)."""
        untrusted = Outcome(self.policy.untrusted_clock)
        return [
            (untrusted if f.rule.reads_clock and not clock_trusted else Outcome.DENY, "rule_failed")
            for f in failures
        ]

    # -- our passes ----------------------------------------------------------------------------
    def _verify_pass(self, raw: bytes, t: TimeContext) -> Verdict:
        kind = PayloadKind.PASS
        try:
            decoded = decode_pass(raw)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)
        claims = decoded.claims
        try:
            key = check_signature(decoded.sign1, self.trust, PASS_ALGS, PURPOSE_PASS)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)  # no subject: nobody vouches for it
        subject = decoded.subject()
        try:
            check_signer_at_iat(key, claims.iat)
            time_findings = self._time_findings(claims.iat, claims.exp, t)
            if any(o is Outcome.DENY for o, _ in time_findings):
                raise StepFailure(STEP_VALIDITY, time_findings[0][1])
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step, subject)
        findings = _with_validity("valid_pass", time_findings)
        sig_hash = signature_hash(decoded.sign1.alg, decoded.sign1.signature)
        revoked = self.flags.pass_revoked(claims.pass_id, sig_hash)
        if revoked:
            findings.append((Outcome.DENY, revoked))
        findings += self._flag_findings(claims.id_number, t)
        findings += self._scope_findings(claims.scope, t.now, t.trusted)
        step = STEP_VALIDITY if any(r in ("expired", "not_yet_valid") for _, r in time_findings) else None
        extra: dict[str, object] = {"pass_id": claims.pass_id_hex, "issuer": claims.issuer}
        if claims.scope.plate:
            extra["plate"] = claims.scope.plate  # the officer compares it with the vehicle
        return make_verdict(kind, findings, subject, step, self.flags.version, extra)

    def _scope_findings(
        self, scope: passes.PassScope, now: dt.datetime, clock_trusted: bool
    ) -> list[Finding]:
        found: list[Finding] = []
        if scope.zones and self.policy.zone not in scope.zones:
            found.append((Outcome.DENY, "out_of_zone"))
        if scope.windows and not in_window(self.policy.local_minute(now), scope.windows):
            outcome = Outcome.DENY if clock_trusted else Outcome(self.policy.untrusted_clock)
            found.append((outcome, "outside_time_window"))
        return found
