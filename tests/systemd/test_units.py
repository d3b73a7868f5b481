"""The shipped systemd units are valid for systemd itself (`systemd-analyze verify`) and hardened."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

from common.install_units import UNIT_DIR, render_all
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
    unit.optionxform = str
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
    unit.optionxform = str
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
    ) == ["kiosk-screen.service", "kiosk.service"]
    assert sorted(
        p.relative_to(tmp_path / "h").as_posix() for p in (tmp_path / "h").rglob("*") if p.is_file()
    ) == [
        "hub.service",
        "mosquitto.service.d/checkpoint.conf",
    ]


def test_kiosk_screen_unit_runs_the_launcher_in_cage_on_tty1_and_restarts_it(tmp_path: Path) -> None:
    """The Pi's display (docs/screen.md): cage full screen on tty1 running `kiosk screen-session`, as its
    own unprivileged user, after the kiosk, restarted whenever it ends. Its command line is one the
    real `cage` and the real `kiosk screen-session` accept."""
    from kiosk.commands import screen_session

    rendered(tmp_path)
    unit = read_unit(tmp_path / "kiosk-screen.service")
    service = unit["Service"]
    assert service["Restart"] == "always" and int(unit["Unit"]["StartLimitIntervalSec"]) == 0
    assert "kiosk.service" in unit["Unit"]["After"].split() and unit["Unit"]["Wants"] == "kiosk.service"
    assert unit["Unit"]["Conflicts"] == "getty@tty1.service" and service["TTYPath"] == "/dev/tty1"
    assert service["User"] == "kiosk-screen" and service["PAMName"]  # a logind seat session, not root
    assert service["NoNewPrivileges"] == "yes" and service["CapabilityBoundingSet"] == ""
    assert unit["Install"]["WantedBy"] == "multi-user.target"

    compositor, *rest = service["ExecStart"].split()
    assert compositor == "/usr/bin/cage"
    split = rest.index("--")
    cage_help = subprocess.run([compositor, "-h"], capture_output=True, text=True, timeout=30).stdout
    for option in rest[:split]:
        assert re.search(rf"^ {re.escape(option)}\b", cage_help, re.M), (option, cage_help)
    program, *args = rest[split + 1 :]
    assert program == f"{sys.prefix}/bin/kiosk" and args[0] == "screen-session"
    context = screen_session.command.make_context("screen-session", args[1:])  # parses, does not run
    assert context.params["config_path"] == "/etc/kiosk/kiosk.toml" and not context.params["headless"]
    # cage opens the GPU, the touch panel and the tty: nothing may close devices, and ProtectClock= would
    # (it implies DeviceAllow=char-rtc, an allow-list of one on systemd 252).
    assert not {"DeviceAllow", "DevicePolicy", "PrivateDevices", "ProtectClock"} & set(service), service
    # 4.7 today: less tight than the kiosk's 4.0, as Chromium's sandbox needs user namespaces, its
    # JavaScript engine writable-executable memory, and cage the display and input devices.
    assert exposure(tmp_path / "kiosk-screen.service") <= 5.0


def exposure(unit: Path) -> float:
    """`systemd-analyze security --offline=yes`'s overall exposure figure for a unit file."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze missing: scripts/test installs the systemd package"
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([0-9.]+)", result.stdout)
    assert found, result.stdout[-2000:] + result.stderr
    return float(found.group(1))


def test_kiosk_and_hub_units_are_rated_4_or_lower_by_systemd_analyze_security(tmp_path: Path) -> None:
    """Was 6.5 (MEDIUM) for the kiosk: no capability bounding set, no system-call filter, no namespace,
    kernel-log or hostname restrictions. The README states the figures; keep them in step."""
    rendered(tmp_path)
    kiosk, hub = exposure(tmp_path / "kiosk.service"), exposure(tmp_path / "hub.service")
    assert kiosk <= 4.0, kiosk
    assert hub <= 4.0, hub
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"kiosk.service` {kiosk:.1f}" in readme and f"hub.service` {hub:.1f}" in readme, (kiosk, hub)
    service = read_unit(tmp_path / "kiosk.service")["Service"]
    assert service["CapabilityBoundingSet"] == ""
    assert service["SystemCallFilter"].startswith("~")  # the last of the lines: what @system-service loses
    # The devices the camera, GPIO and screen need are still allowed (the filter does not hide them).
    assert {"char-video4linux rw", "char-gpiochip rw", "/dev/gpiomem rw", "char-dma_heap rw"} <= set(
        re.findall(r"^DeviceAllow=(.+)$", (tmp_path / "kiosk.service").read_text(), re.M)
    )


def test_mosquitto_keeps_config_in_etc_and_writes_only_under_var_lib(tmp_path: Path) -> None:
    """Was: the documented `--out /etc/mosquitto/checkpoint` put the persistence file in
    /etc/mosquitto/checkpoint/data, read-only under the drop-in's ProtectSystem=strict."""
    from provisioning.broker import BrokerFiles, BrokerSettings, render_mosquitto_conf

    rendered(tmp_path)
    drop_in = (tmp_path / "mosquitto.service.d" / "checkpoint.conf").read_text()
    service = read_unit(tmp_path / "mosquitto.service.d" / "checkpoint.conf")["Service"]
    assert service["ProtectSystem"] == "strict"
    writable = [Path(p) for p in service["ReadWritePaths"].split()]
    assert not [p for p in writable if p == Path("/etc") or Path("/etc") in p.parents]
    # The documented command, read from the docs, gives a config the drop-in starts and can persist.
    docs = (REPO_ROOT / "docs" / "provisioning.md").read_text()
    command = re.search(r"^provision broker config .*$", docs, re.M)
    assert command, "docs/provisioning.md no longer shows `provision broker config`"
    args = command.group(0).split()
    out, persistence = args[args.index("--out") + 1], args[args.index("--persistence-dir") + 1]
    assert re.search(rf"^ExecStart=\S*mosquitto -c {re.escape(out)}/mosquitto.conf$", drop_in, re.M), drop_in
    conf = render_mosquitto_conf(
        BrokerFiles.in_directory(out, persistence), BrokerSettings(persistence_dir=persistence)
    )
    location = Path(re.search(r"^persistence_location (.+)$", conf, re.M).group(1))
    assert any(location == p or p in location.parents for p in writable), (location, writable)


def test_documentation_links_point_at_files_that_exist_or_are_left_out(tmp_path: Path) -> None:
    """From a checkout the units link the README and docs/; from a wheel install (no docs beside the
    package) a file:// link would dangle, so it is left out rather than written."""
    checkout = render_all(tmp_path / "checkout", REPO_ROOT, Path(sys.prefix), "kiosk")
    links = [
        line.removeprefix("Documentation=file://")
        for unit in checkout
        for line in unit.read_text().splitlines()
        if line.startswith("Documentation=file://")
    ]
    assert len(links) == 2 and all(Path(link).is_file() for link in links), links
    wheel = render_all(tmp_path / "wheel", tmp_path / "site-packages", Path(sys.prefix), "kiosk")
    for unit in wheel:
        text = unit.read_text()
        assert "Documentation=file://" not in text, unit
        assert "ExecStart=" in text  # the rest of the unit is intact
