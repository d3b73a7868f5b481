"""The layout rule (README, Layout) holds: `lint-imports` checks the contracts of pyproject.toml.

The second test proves the contracts can fail: a stub tree with the same package names and one forbidden
import per contract must break every one of them (a contract that names a wrong package would pass
quietly forever).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT

CONFIG = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]

# One import per contract that the contract must refuse (module -> what it imports).
VIOLATIONS = {
    "common.leak": "kiosk.config",
    "kiosk.leak": "provisioning.inventory",
    "hub.leak": "kiosk.verify.flags",
    "provisioning.leak": "hub.db",
    "provisioning.too_much": "kiosk.verify.verifier",
    "kiosk.heavy": "sqlalchemy",
    "bench.leak": "tests.support.browser",
}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the tree in `cwd` with our contracts (it puts `cwd` first on the import path)."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "lint-imports missing: the test extra installs import-linter"
    return subprocess.run(
        [exe, "--config", str(REPO_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def verdicts(output: str) -> list[str]:
    """KEPT / BROKEN per contract, in order (names wrap over lines in the report)."""
    return re.findall(r"\b(KEPT|BROKEN)\b", output.split("Contracts:")[0])


def test_the_tree_keeps_every_layout_contract() -> None:
    result = lint_imports(REPO_ROOT)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert verdicts(out) == ["KEPT"] * len(CONFIG["contracts"]), out


def write_module(root: Path, dotted: str, body: str = "") -> None:
    path = root.joinpath(*dotted.split("."))
    for parent in [path.parent, *path.parent.parents]:
        if parent == root:
            break
        parent.mkdir(parents=True, exist_ok=True)
        (parent / "__init__.py").touch()
    path.with_suffix(".py").write_text(body)


def test_each_contract_breaks_on_a_forbidden_import(tmp_path: Path) -> None:
    for package in CONFIG["root_packages"]:
        write_module(tmp_path, f"{package}.__init__")
    allowed = [line.split(" -> ") for c in CONFIG["contracts"] for line in c.get("ignore_imports", [])]
    for importer, imported in allowed:  # the allowance itself must stay allowed
        write_module(tmp_path, imported)
        path = tmp_path.joinpath(*importer.split(".")).with_suffix(".py")
        write_module(tmp_path, importer, (path.read_text() if path.exists() else "") + f"import {imported}\n")
    for importer, imported in VIOLATIONS.items():
        if imported.split(".")[0] in CONFIG["root_packages"]:
            write_module(tmp_path, imported)
        write_module(tmp_path, importer, f"import {imported}\n")

    result = lint_imports(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert verdicts(out) == ["BROKEN"] * len(CONFIG["contracts"]), out
    for importer, imported in VIOLATIONS.items():
        assert f"{importer} -> {imported}" in out, out
    assert "provisioning.bundle -> kiosk.config" not in out  # the allowance is not reported
