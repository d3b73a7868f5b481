"""The README's main job runs end to end and decides once per person."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

from demo.single_kiosk import demo_world, run_demo
from tests.conftest import REPO_ROOT


def test_demo_decides_once_per_person_shown_with_real_verification() -> None:
    lines: list[str] = []
    world = demo_world(datetime.now(UTC))
    decisions = run_demo(fps=None, emit=lines.append, world=world)
    assert [d.code.text for d in decisions] == world.payloads
    assert [d.verdict.outcome.value for d in decisions] == world.expected
    reasons = [set(d.verdict.reasons) for d in decisions]
    assert "flag_f0" in reasons[3]
    assert lines[-1].startswith("demo: frames=") and f"decisions={len(world.payloads)} errors=0" in lines[-1]
    assert all(json.loads(line)["verdict"] in {"PASS", "DENY", "REVIEW"} for line in lines[:-1])


def test_demo_command_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "demo", "--fast"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "decisions=7" in result.stdout
