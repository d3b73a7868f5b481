"""The README's main job runs end to end and decides once per person."""

from __future__ import annotations

import json
import subprocess
import sys

from kiosk.demo import DEMO_PAYLOADS, run_demo
from tests.conftest import REPO_ROOT


def test_demo_decides_once_per_person_shown() -> None:
    lines: list[str] = []
    decisions = run_demo(fps=None, emit=lines.append)
    assert len(decisions) == len(DEMO_PAYLOADS)
    assert [d.code.text for d in decisions] == DEMO_PAYLOADS
    assert lines[-1].startswith("demo: frames=") and f"decisions={len(DEMO_PAYLOADS)} errors=0" in lines[-1]
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
    assert "decisions=4" in result.stdout
