"""A Raspberry Pi installs the kiosk role only: `pip install '<wheel>[kiosk]'` into a fresh venv.

Built from a wheel (not the checkout), so what is checked is what a Pi gets: no web framework, ORM,
PostgreSQL driver or QR-image writer; `kiosk` runs; `install-units` reads the unit templates from the
installed package; `hub` says in one line which extra it needs; `provision kiosk keygen` (run on kiosks)
works. pip's cache keeps the second run fast; nothing is compiled that the checks do not import.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HUB_AND_PROVISION_ONLY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg", "segno")
NOT_SHIPPED = (
    "tests",
    "testkit",
    "bench",
    ".venv",
    ".git",
    "build",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)
INSTALL_TIMEOUT_S = 900  # a loaded 2-core machine unpacking OpenCV; a healthy run takes about a minute


def run(cmd: list[str], cwd: Path, timeout: float = INSTALL_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def kiosk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel with its kiosk extra (nothing from this checkout on its path)."""
    tmp = tmp_path_factory.mktemp("role")
    started = time.monotonic()
    src = tmp / "src"  # a copy: building in the checkout would leave build/ behind, under other tests' feet
    shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # Paths absolute: pip reads a bare word as a project name to download.
    wheel_dir = tmp / "dist"
    built = run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir), str(src)], tmp
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheel_dir.glob("qr_checkpoint-*.whl")
    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    installed = run([*pip, "--python", python, "install", "-q", "--no-compile", f"{wheel}[kiosk]"], tmp)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    print(f"kiosk role: wheel built and installed in {time.monotonic() - started:.1f} s")
    return venv


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_the_kiosk_role_installs_none_of_the_hub_libraries(kiosk_venv: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util, json, sys;"
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {HUB_AND_PROVISION_ONLY}}}))"
    )
    found = run([str(kiosk_venv / "bin" / "python"), "-c", probe], tmp_path, timeout=120)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == dict.fromkeys(HUB_AND_PROVISION_ONLY, False)


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_the_kiosk_commands_run_from_the_installed_package(kiosk_venv: Path, tmp_path: Path) -> None:
    kiosk = str(kiosk_venv / "bin" / "kiosk")
    helped = run([kiosk, "run", "--help"], tmp_path, timeout=300)
    assert helped.returncode == 0 and "Usage: kiosk run" in helped.stdout, helped.stdout + helped.stderr

    units = run([kiosk, "install-units", "--dest", str(tmp_path / "units")], tmp_path, timeout=300)
    assert units.returncode == 0, units.stdout + units.stderr
    unit = (tmp_path / "units" / "kiosk.service").read_text()
    assert f"ExecStart={kiosk_venv}/bin/kiosk run --config /etc/kiosk/kiosk.toml" in unit
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["kiosk-screen.service", "kiosk.service"]

    where = run(
        [
            str(kiosk_venv / "bin" / "python"),
            "-c",
            "from common.install_units import UNIT_DIR; print(UNIT_DIR)",
        ],
        tmp_path,
        timeout=120,
    )
    unit_dir = Path(where.stdout.strip())
    assert unit_dir.is_relative_to(kiosk_venv), unit_dir  # the installed package's copy, not the checkout's
    assert "ExecStart=@VENV@/bin/kiosk run" in (unit_dir / "kiosk.service").read_text()

    keygen = run([str(kiosk_venv / "bin" / "provision"), "kiosk", "keygen", "--help"], tmp_path, timeout=300)
    assert keygen.returncode == 0, keygen.stdout + keygen.stderr


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_hub_on_a_kiosk_says_which_extra_in_one_line(kiosk_venv: Path, tmp_path: Path) -> None:
    result = run([str(kiosk_venv / "bin" / "hub"), "--help"], tmp_path, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "'hub' extra" in result.stderr and "pip install 'qr-checkpoint[hub]'" in result.stderr
    assert "sqlalchemy" in result.stderr and "fastapi" in result.stderr


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_pass_images_on_a_kiosk_say_which_extra_in_one_line(kiosk_venv: Path, tmp_path: Path) -> None:
    """`provision` runs on a kiosk (keygen); pass images need segno, which only the provision extra has."""
    write = "from pathlib import Path; from provisioning.qr import write_qr; write_qr('X', Path('p.png'))"
    result = run([str(kiosk_venv / "bin" / "python"), "-c", write], tmp_path, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "'provision' extra (missing segno)" in result.stderr
    assert not (tmp_path / "p.png").exists()
