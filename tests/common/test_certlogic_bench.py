"""bench/certlogic.py still runs and prints its summary line (the numbers are measurements, not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_certlogic_bench_quick_run_prints_its_summary_line() -> None:
    result = subprocess.run(
        [sys.executable, "bench/certlogic.py", "--quick"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"certlogic: compiled_us=[\d.]+ evaluate_us=[\d.]+ ratio=[\d.]+ rules10_us=[\d.]+ certs_per_s=\d+",
        last,
    ), last
