"""The verifier: raw QR bytes -> Verdict, as a pure function of (payload, trust, flags, policy, now).

Order of checks for signed codes (HC1 and passes share every step they have in common):
prefix, base45, [decompress], cbor, signature, key_usage, validity, schema; then revocation,
person flags and scope. The first failing decoding/crypto step ends verification with DENY and
names the step; later findings (flags, clock, scope) are collected and the worst outcome wins.

Never raises on payload content: every parser failure is a reason code.

A signed code's subject (name, date of birth, id) is part of the verdict, and so of the record, only
once its signature and key usage have been verified: the fields of a forged or unsigned code are
whatever the person holding it typed, so they are neither evidence nor safe to store. Identity codes
(CCCD, PC-Covid) carry no signature and are recorded as read: the officer saw them, and a stopped F0
must stay traceable. An untrusted clock never
yields PASS for a signed code (policy.untrusted_clock: REVIEW by default).
"""

from __future__ import annotations

import datetime as dt

from kiosk.verify.cccd import looks_like_cccd, parse_cccd
from kiosk.verify.checkpoint_pass import decode_pass
from kiosk.verify.flags import FlagStore
from kiosk.verify.hc1 import PREFIX as HC1_PREFIX
from kiosk.verify.hc1 import DccSchema, decode_hc1
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
from kiosk.verify.trust import TrustStore
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


class Verifier:
    """Holds the (read-only during a verify) trust store, flag store and policy."""

    def __init__(
        self, trust: TrustStore, flags: FlagStore | None = None, policy: PolicyConfig | None = None
    ) -> None:
        self.trust = trust
        self.flags = flags if flags is not None else FlagStore()
        self.policy = policy if policy is not None else PolicyConfig()
        self._schema = DccSchema()

    def verify(self, raw: bytes, now: dt.datetime, clock_trusted: bool = True) -> Verdict:
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        if len(raw) > MAX_RAW:
            return self._deny(PayloadKind.UNKNOWN, "payload_too_large")
        kind = classify(raw)
        if kind is PayloadKind.UNKNOWN:
            return self._deny(kind, "unknown_payload")
        if kind.value not in self.policy.accepted_kinds:
            return self._deny(kind, "kind_not_accepted")
        if kind is PayloadKind.HC1:
            return self._verify_hc1(raw, now, clock_trusted)
        if kind is PayloadKind.PASS:
            return self._verify_pass(raw, now, clock_trusted)
        return self._verify_identity(kind, raw, now)

    # -- helpers ---------------------------------------------------------------------------
    def _deny(
        self, kind: PayloadKind, reason: str, step: str | None = None, subject: Subject | None = None
    ) -> Verdict:
        return make_verdict(kind, [(Outcome.DENY, reason)], subject, step, self.flags.version)

    def _flag_findings(self, id_number: str | None, now: dt.datetime) -> list[Finding]:
        if id_number is None:
            return []
        hit = self.flags.person(id_number, now)
        if hit is None:
            return []
        name = hit.status.name
        return [(self.policy.outcome_for_flag(name), f"flag_{name.lower()}")]

    def _time_findings(self, iat: int, exp: int, now: dt.datetime, clock_trusted: bool) -> list[Finding]:
        """Window check; with an untrusted clock a failure is not proof, so it earns the policy's
        untrusted-clock outcome (REVIEW by default) instead of DENY, and never PASS."""
        problem = check_window(iat, exp, now, self.policy.clock_skew_s)
        untrusted = Outcome(self.policy.untrusted_clock)
        found: list[Finding] = []
        if problem:
            found.append((Outcome.DENY if clock_trusted else untrusted, problem))
        if not clock_trusted:
            found.append((untrusted, "clock_untrusted"))
        return found

    # -- identity codes ----------------------------------------------------------------------
    def _verify_identity(self, kind: PayloadKind, raw: bytes, now: dt.datetime) -> Verdict:
        try:
            parsed = parse_cccd(raw) if kind is PayloadKind.CCCD else parse_pccovid(raw)
        except IdentityParseError as exc:
            return self._deny(kind, exc.reason)
        subject = Subject(parsed.id_number, parsed.name, parsed.dob)
        findings: list[Finding] = [(Outcome(self.policy.identity_only), "identity_only")]
        if parsed.id_number is None:
            findings.append((Outcome(self.policy.masked_id), "id_masked"))
        findings += self._flag_findings(parsed.id_number, now)
        return make_verdict(kind, findings, subject, None, self.flags.version)

    # -- HC1 ---------------------------------------------------------------------------------
    def _verify_hc1(self, raw: bytes, now: dt.datetime, clock_trusted: bool) -> Verdict:
        kind = PayloadKind.HC1
        try:
            hc1 = decode_hc1(raw)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)
        try:
            key = check_signature(hc1.sign1, self.trust, HC1_ALGS)
            cert_type = hc1.cert_type
            if key.allowed_types is not None and (cert_type is None or cert_type not in key.allowed_types):
                raise StepFailure(STEP_KEY_USAGE, "key_usage")
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)  # no subject: nobody vouches for it
        subject = hc1.subject()
        try:
            check_signer_at_iat(key, hc1.iat)
            time_findings = self._time_findings(hc1.iat, hc1.exp, now, clock_trusted)
            if any(o is Outcome.DENY for o, _ in time_findings):
                raise StepFailure(STEP_VALIDITY, time_findings[0][1])
            self._schema.check(hc1.dcc)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step, subject)
        findings = _with_validity("valid_hc1", time_findings)
        if cert_type not in self.policy.hc1_types:
            findings.append((Outcome.DENY, "kind_not_accepted"))
        revoked = self.flags.hc1_revoked(
            hc1.uci, hc1.country, signature_hash(hc1.sign1.protected.get(1), hc1.sign1.signature)
        )
        if revoked:
            findings.append((Outcome.DENY, revoked))
        step = STEP_VALIDITY if any(r in ("expired", "not_yet_valid") for _, r in time_findings) else None
        return make_verdict(kind, findings, subject, step, self.flags.version, {"cert_type": cert_type})

    # -- our passes ----------------------------------------------------------------------------
    def _verify_pass(self, raw: bytes, now: dt.datetime, clock_trusted: bool) -> Verdict:
        kind = PayloadKind.PASS
        try:
            decoded = decode_pass(raw)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)
        claims = decoded.claims
        try:
            key = check_signature(decoded.sign1, self.trust, PASS_ALGS)
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step)  # no subject: nobody vouches for it
        subject = decoded.subject()
        try:
            check_signer_at_iat(key, claims.iat)
            time_findings = self._time_findings(claims.iat, claims.exp, now, clock_trusted)
            if any(o is Outcome.DENY for o, _ in time_findings):
                raise StepFailure(STEP_VALIDITY, time_findings[0][1])
        except StepFailure as exc:
            return self._deny(kind, exc.reason, exc.step, subject)
        findings = _with_validity("valid_pass", time_findings)
        sig_hash = signature_hash(decoded.sign1.protected.get(1), decoded.sign1.signature)
        revoked = self.flags.pass_revoked(claims.pass_id, sig_hash)
        if revoked:
            findings.append((Outcome.DENY, revoked))
        findings += self._flag_findings(claims.id_number, now)
        findings += self._scope_findings(claims.scope, now, clock_trusted)
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
