"""The benchmarks still run and print their summary line (numbers are not asserted: they are measurements)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def run_bench(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a benchmark script; if it overruns (or the test is cut short by pytest-timeout), interrupt it
    with SIGINT first, so its own `finally` blocks stop the Mosquitto, PostgreSQL and hub it started
    (subprocess.run's SIGKILL left them running), then kill it."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        # SIGINT as Python's KeyboardInterrupt even where the runner inherited it ignored (a background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_scan_bench_quick_run_prints_its_summary_line() -> None:
    result = run_bench(["bench/scan.py", "--quick", "--passes", "1"], timeout=300)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"scan: pipeline_read=\d+ raw_read=\d+ p50_ratio=[\d.]+ p99_ms=[\d.]+ empty_ratio=[\d.]+"
        r" categories_ok=\d+/\d+",
        last,
    ), last
    read = dict(kv.split("=") for kv in last.split()[1:])
    assert int(read["pipeline_read"]) >= int(read["raw_read"])
    ok, categories = read["categories_ok"].split("/")
    assert ok == categories  # in every category, at least as many codes as the plain call


def test_link_bench_small_run_loses_nothing() -> None:
    result = run_bench(["bench/link.py", "--events", "2000"], timeout=300)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"link: drain_per_s=\d+ publish_us=[\d.]+ lost=0 dup_at_hub=0", last), last


@pytest.mark.timeout(330)  # above the run's own 300 s: PostgreSQL + 3 hub runs took >120 s at load 11
def test_hub_bench_small_run_loses_nothing_and_prints_its_summary() -> None:
    result = run_bench(
        ["bench/hub.py", "--events", "1000", "--kiosks", "4", "--fleet", "20", "--flags", "2"], timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"hub: ingest_per_s=\d+ relay_per_s=\d+ ratio=[\d.]+ workers_scaling=[\d.]+ "
        r"propagation_p99_ms=[\d.]+ lost=0 dup=0",
        last,
    ), last


def test_screen_bench_small_run_prints_its_summary() -> None:
    result = run_bench(["bench/screen.py", "--verdicts", "20"], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"screen: p50_ms=[\d.]+ p99_ms=[\d.]+ light_p99_ms=[\d.]+ budget_ms=[\d.]+ "
        r"p99_over_budget=[\d.]+",
        last,
    ), last


def test_scan_loop_bench_short_run_prints_its_summary_line() -> None:
    result = run_bench(["bench/scan_loop.py", "--seconds", "1"], timeout=300)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"scan_loop: p50_off=[\d.]+ p50_on=[\d.]+ p99_off=[\d.]+ p99_on=[\d.]+ learned_runs=\d+", last
    ), last
    assert int(last.rsplit("=", 1)[1]) >= 1  # the learned detector did run on the hard frames


def test_flags_bench_small_run_ends_level_with_the_hub() -> None:
    result = run_bench(
        ["bench/flags.py", "--flags", "20000", "--fleet", "20", "--delta", "5000", "--new-flags", "3"],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"flags: n=20000 resync_s=[\d.]+ delta_100k_s=[\d.]+ head_ms=[\d.]+ kiosk_rss_mb=[\d.]+ "
        r"propagation_p99_ms=[\d.]+ mismatches=0",
        last,
    ), last
