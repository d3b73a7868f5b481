"""mypy is part of the test suite, like ruff: a type error fails CI like any other test.

What is checked and how strictly lives in pyproject.toml ([tool.mypy]): strict on the wire contracts, the
verifier and the shared package, a baseline (bodies of unannotated functions checked too) on the rest of
the shipped packages; an unused or unexplained `type: ignore` is an error. The cache lives in the venv,
out of the tree: a warm run takes seconds, a cold one (fresh venv) about half a minute of CPU.
"""

from __future__ import annotations

import subprocess
import sys
import tokenize
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_mypy_is_clean() -> None:
    cache = Path(sys.prefix) / "mypy-cache"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), "--no-error-summary"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_type_ignore_says_why() -> None:
    """mypy refuses an ignore without its error code (ignore-without-code); the reason is ours to keep: a
    comment after the code on the same line, or a comment line just above."""
    unexplained = []
    for path in sorted(REPO_ROOT.rglob("*.py")):
        if any(part.startswith(".") for part in path.relative_to(REPO_ROOT).parts):
            continue  # .venv and the like
        lines = path.read_text("utf-8").splitlines()
        with path.open("rb") as f:
            comments = [t for t in tokenize.tokenize(f.readline) if t.type == tokenize.COMMENT]
        for token in comments:
            code, marker, rest = token.string.partition("type: ignore")
            if not marker or code.strip() != "#":
                continue
            row = token.start[0]
            said_after = "#" in rest
            said_above = row > 1 and lines[row - 2].strip().startswith("#")
            if not (said_after or said_above):
                unexplained.append(f"{path.relative_to(REPO_ROOT)}:{row}: {lines[row - 1].strip()}")
    assert not unexplained, "an ignore without a reason:\n" + "\n".join(unexplained)
