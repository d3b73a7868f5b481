"""`kiosk verify`: verify one QR payload offline and print the verdict as one JSON object.

Exit 0 whenever a verdict was produced (DENY included); 2 on usage errors (click), including
unreadable trust, flag or policy files: those are the operator's mistake, not the code's.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from common.clitools import json_text
from common.healthrules import RuleError, RuleSet
from common.trust import TrustLoadError, TrustStore
from common.valuesets import ValueSetError
from kiosk.verify.flags import FlagFileError, FlagStore, load_flag_file
from kiosk.verify.policy import PolicyConfig, load_policy
from kiosk.verify.signed import STEP_DECODE_IMAGE
from kiosk.verify.verdict import Outcome, PayloadKind, Verdict
from kiosk.verify.verifier import Verifier, make_verdict


def read_qr_image(path: Path) -> bytes | None:
    """First QR code's bytes in an image, read by the kiosk's own decoder (strategy included); or None."""
    import cv2

    from kiosk.decode import DecodeConfig, QrDecoder

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    codes = QrDecoder(DecodeConfig(frame_budget_ms=2000)).decode(image)
    return codes[0].raw if codes else None


def verdict_json(v: Verdict) -> dict[str, object]:
    return {
        "kind": v.kind.value,
        "verdict": v.outcome.value,
        "reasons": list(v.reasons),
        "failed_step": v.failed_step,
        "subject": v.subject.to_dict() if v.subject else None,
        "message": {"vi": v.message_vi, "en": v.message_en},
        "flags_version": v.flags_version,
        "extra": v.extra,
    }


def _parse_at(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)  # the CLI is the edge: the only clock read
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not ISO 8601: {value!r}", param_hint="--at") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@click.command("verify")
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    metavar="[dcc:|pass:]PATH",
    help="PEM/DER certificates and public keys, a JSON DSC list, or a directory of them (repeatable). "
    "A certificate trusts HC1 (dcc) and a bare public key VNP1 passes (pass), unless prefixed.",
)
@click.option(
    "--flags",
    "flags_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Flag list JSON (format: kiosk/verify/flags.py).",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy TOML (a [policy] table or bare keys). Default: every kind accepted.",
)
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Health rules (EU rule format, CertLogic) to apply to HC1 certificates (repeatable). "
    "Without it the verdict is the signature-level one.",
)
@click.option(
    "--value-sets",
    "value_set_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="EU value set JSON file or directory (repeatable). Default: the value sets shipped with the kiosk.",
)
@click.option(
    "--at", "at", help="Validation time, ISO 8601 (default: now); also the rules' validation clock."
)
@click.option("--clock-untrusted", is_flag=True, help="Treat the validation clock as untrusted.")
@click.option(
    "--image",
    "image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the QR code from an image instead.",
)
@click.argument("text", required=False)
def command(
    trust_paths: tuple[str, ...],
    flags_path: Path | None,
    policy_path: Path | None,
    rule_paths: tuple[Path, ...],
    value_set_paths: tuple[Path, ...],
    at: str | None,
    clock_untrusted: bool,
    image: Path | None,
    text: str | None,
) -> None:
    """Verify TEXT (or - for stdin, or --image FILE) and print one JSON verdict."""
    if (text is None) == (image is None):
        raise click.UsageError("give exactly one of TEXT, - or --image FILE")
    now = _parse_at(at)
    try:
        trust = TrustStore.from_paths(trust_paths)
    except (TrustLoadError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--trust") from exc
    try:
        flags = load_flag_file(flags_path) if flags_path else FlagStore()
    except FlagFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--flags") from exc
    try:
        policy = load_policy(policy_path) if policy_path else PolicyConfig()
    except (ValueError, OSError) as exc:  # pydantic ValidationError and TOML errors are ValueErrors
        raise click.BadParameter(str(exc), param_hint="--policy") from exc
    try:
        rules = RuleSet.from_paths(rule_paths, value_set_paths) if rule_paths else None
    except (RuleError, ValueSetError, OSError) as exc:
        hint = "--value-sets" if isinstance(exc, ValueSetError) else "--rules"
        raise click.BadParameter(str(exc), param_hint=hint) from exc
    verifier = Verifier(trust, flags, policy, rules)
    if image is not None:
        raw = read_qr_image(image)
        if raw is None:
            verdict = make_verdict(
                PayloadKind.UNKNOWN,
                [(Outcome.DENY, "decode_image_failed")],
                None,
                STEP_DECODE_IMAGE,
                flags.version,
            )
            click.echo(json_text(verdict_json(verdict), indent=None))
            return
    elif text == "-":
        raw = sys.stdin.buffer.read(64 * 1024).rstrip(b"\r\n")
    else:
        assert text is not None  # exactly one of TEXT and --image: checked above
        raw = text.encode("utf-8")
    verdict = verifier.verify(raw, now, clock_trusted=not clock_untrusted)
    click.echo(json_text(verdict_json(verdict), indent=None))
