"""`kiosk gate-safe` (systemd ExecStopPost) runs standalone and drives the gate to its locked level."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_gate_safe_locks_the_configured_gate_pin() -> None:
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    result = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "gate-safe", "--config", "examples/kiosk.toml"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gate on GPIO24 locked"


def test_gate_safe_with_a_broken_config_fails_loudly(tmp_path) -> None:
    bad = tmp_path / "k.toml"
    bad.write_text("[kiosk]\n")
    result = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "gate-safe", "--config", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "kiosk.kiosk_id: Field required" in result.stderr
    assert "Traceback" not in result.stderr
