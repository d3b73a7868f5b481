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


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(path)
    return unit


def test_hub_unit_is_notify_watchdog_and_hardened(tmp_path: Path) -> None:
    rendered(tmp_path)
    service = read_unit(tmp_path / "hub.service")["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "always"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["StateDirectory"] == "hub" and service["WorkingDirectory"] == "/var/lib/hub"
    assert service["ReadWritePaths"] == "/var/lib/hub"
    assert service["User"] == "hub"
    assert "hub serve" in service["ExecStart"] and "@" not in service["ExecStart"]


def test_mosquitto_drop_in_applies_to_a_mosquitto_unit(tmp_path: Path) -> None:
    """systemd-analyze cannot verify a drop-in alone: load it on top of a stand-in for Debian's unit."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
    rendered(tmp_path)
    (tmp_path / "mosquitto.service").write_text(
        "[Unit]\nDescription=stand-in for Debian's mosquitto.service\n"
        "[Service]\nType=notify\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
    )
    env = {"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "mosquitto.service")], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # verify reads the drop-in and reports its bad lines (exit code 0 all the same): none allowed
    assert "checkpoint.conf" not in result.stdout + result.stderr, result.stderr
    drop_in = read_unit(tmp_path / "mosquitto.service.d" / "checkpoint.conf")["Service"]
    assert drop_in["Restart"] == "always" and int(drop_in["LimitNOFILE"]) >= 65536


def test_install_units_writes_only_each_machines_own_units(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hub.cli import main as hub_main
    from kiosk.cli import main as kiosk_main

    CliRunner().invoke(kiosk_main, ["install-units", "--dest", str(tmp_path / "k")], catch_exceptions=False)
    CliRunner().invoke(hub_main, ["install-units", "--dest", str(tmp_path / "h")], catch_exceptions=False)
    assert sorted(
        p.relative_to(tmp_path / "k").as_posix() for p in (tmp_path / "k").rglob("*") if p.is_file()
    ) == ["kiosk.service"]
    assert sorted(
        p.relative_to(tmp_path / "h").as_posix() for p in (tmp_path / "h").rglob("*") if p.is_file()
    ) == [
        "hub.service",
        "mosquitto.service.d/checkpoint.conf",
    ]
