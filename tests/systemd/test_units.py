"""The shipped systemd units are valid for systemd itself (`systemd-analyze verify`) and hardened."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from kiosk.commands.install_units import UNIT_DIR, render_all
from tests.conftest import REPO_ROOT


def rendered(tmp_path: Path) -> list[Path]:
    return render_all(tmp_path, REPO_ROOT, Path(sys.prefix))


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze missing: scripts/test installs the systemd package"
    units = [p for p in rendered(tmp_path) if p.suffix == ".service"]
    assert units, f"no units in {UNIT_DIR}"
    result = subprocess.run(
        [analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not executable" not in result.stderr


def test_kiosk_unit_is_notify_watchdog_and_hardened(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    rendered(tmp_path)
    unit.read(tmp_path / "kiosk.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "always"
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["StateDirectory"] == "kiosk"
    assert service["WorkingDirectory"] == "/var/lib/kiosk"
    assert service["ReadWritePaths"] == "/var/lib/kiosk"
    assert set(service["SupplementaryGroups"].split()) >= {"gpio", "video"}
    assert "gate-safe" in service["ExecStopPost"]
    assert "@" not in service["ExecStart"]
