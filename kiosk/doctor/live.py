"""The running kiosk judged from its own objects, for its retained status and its metrics: cheap, no I/O
beyond a statvfs (no write probe: monitoring must not wear an SD card), never blocks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.doctor.checks import Check, CheckResult, Level, Outcome, judge_clock, judge_disk

if TYPE_CHECKING:
    from kiosk.service import KioskService


def live_checks(service: KioskService) -> list[CheckResult]:
    """The running kiosk judged from its own objects: cheap, no I/O beyond a statvfs, never blocks."""
    checks: list[tuple[str, Check]] = [
        ("camera", lambda: _live_camera(service)),
        ("clock", lambda: judge_clock(service.clock.read())),
        ("broker", lambda: _live_broker(service)),
        ("trust", lambda: _live_trust(service)),
        ("flags", lambda: _live_flags(service)),
        ("disk", lambda: _live_disk(service)),
    ]
    results = []
    for name, check in checks:
        try:
            level, detail = check()
        except Exception as exc:
            level, detail = Level.FAIL, f"{type(exc).__name__}: {exc}"
        results.append(CheckResult(name, level, detail))
    return results


def _live_camera(service: KioskService) -> Outcome:
    capture = service.capture
    state = capture.state.value
    if state == "running":
        return Level.OK, f"running, {capture.stats.frames} frames"
    if state == "lost":
        return Level.FAIL, f"lost ({capture.stats.failures} times): {capture.stats.last_error}"
    return Level.WARN, state


def _live_broker(service: KioskService) -> Outcome:
    link = service.link
    if link is None:
        return Level.OK, "no [mqtt]: a standalone kiosk"
    where = f"{link.config.host}:{link.config.port}"
    if link.connected:
        return Level.OK, f"connected to {where}"
    return Level.WARN, f"not connected to {where}: passages wait in the outbox"


def _live_trust(service: KioskService) -> Outcome:
    counts = service.trust.store.counts()
    keys = sum(v for k, v in counts.items() if k != "skipped")
    detail = f"v{service.trust.store.version}, {keys} keys"
    return (Level.OK if keys else Level.WARN), detail


def _live_flags(service: KioskService) -> Outcome:
    state = service.flag_sync.status_fields()["flags_state"]
    rules = service.verifier.verifier.rules
    flags = service.flags
    detail = f"flags v{flags.version} ({len(flags)}, {state}), rules v{rules.version} ({len(rules)})"
    ok = state == "verified" or (state == "unverified" and service.link is None)
    return (Level.OK if ok else Level.WARN), detail


def _live_disk(service: KioskService) -> Outcome:
    health = service.store.health
    if health.alarms:
        return Level.FAIL, f"store alarms: {', '.join(sorted(health.alarms))}"
    return judge_disk(Path(service.config.kiosk.state_dir), probe=False)
