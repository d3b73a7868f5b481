"""The README's main job: the whole system on one machine (`scripts/demo` runs `python -m demo`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_scripted_demo_turns_the_flagged_person_red_everywhere_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scripted", "--timeout", "150"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=240,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert len(re.findall(r"^  screen     http://127\.0\.0\.1:\d+/", out, re.M)) == 3
    assert re.search(r"^  dashboard  http://127\.0\.0\.1:\d+/", out, re.M)
    assert "Operator flags Lê Văn Cường F0" in out
    assert len(re.findall(r"is RED at kiosk-", out)) == 3
    assert "every passage is at the hub and the registry" in out
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_everything_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait until passages flow through the hub
        seen.append(line)
        if re.search(r"✓[1-9]", line):
            break
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    rest, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, "".join(seen) + rest + err
    assert "Stopping kiosks, hub, registry and broker" in rest
    assert "Traceback" not in err
    leftovers = subprocess.run(["pgrep", "-f", "qr-checkpoint-demo-"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "kiosk or broker processes outlived the demo"
