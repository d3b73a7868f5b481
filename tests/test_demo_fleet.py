"""The README's main job: the whole system on one machine (`scripts/demo` runs `python -m demo`)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from demo.world import CROWD_CCCD, FLAGGED_ID, FLAGGED_NAME, OPERATOR, REGISTRY_TOKEN
from tests.conftest import REPO_ROOT


def test_scripted_demo_turns_the_flagged_person_red_everywhere_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--scripted", "--timeout", "150", "--keep"],
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
    # The Prometheus endpoints, scraped by the demo at the end, moved with its traffic.
    kiosk_figures = re.findall(
        r"^metrics    kiosk-\S+: (\d+) verdicts, (\d+) frames decoded, outbox backlog (\d+)", out, re.M
    )
    assert len(kiosk_figures) == 3, out[-3000:]
    assert all(int(v) > 0 and int(f) > 0 for v, f, _ in kiosk_figures), kiosk_figures
    hub_figures = re.search(r"^metrics    hub: (\d+) events acked", out, re.M)
    delivered = sum(int(v) - int(b) for v, _, b in kiosk_figures)  # recorded minus still in the outbox
    assert hub_figures is not None and int(hub_figures.group(1)) >= delivered > 0
    assert "Traceback" not in result.stderr
    workdir = Path(re.search(r"^  files      (\S+)", out, re.M).group(1))
    try:
        assert_logs_hold_no_personal_data_or_secrets(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def assert_logs_hold_no_personal_data_or_secrets(workdir: Path) -> None:
    """Hub and kiosk logs at INFO: no name, id number, token, password or key of the run."""
    logs = {p.name: p.read_text(errors="replace") for p in workdir.glob("*.log")}
    assert {"hub.log", "kiosk-sieuthi-1.log", "kiosk-gatau-1.log", "kiosk-chot-1.log"} <= set(logs)
    assert all(text.strip() for text in logs.values()), "every log has INFO lines to check"
    secrets = [REGISTRY_TOKEN, OPERATOR[1], "PRIVATE KEY", FLAGGED_ID, FLAGGED_NAME]
    for cccd in CROWD_CCCD:
        id_number, _, name, *_ = cccd.split("|")
        secrets += [id_number, name]
    secrets += ["001099012346", "Phạm Văn Dũng", "001099012348", "Vũ Văn Giang", "Hoàng Thị Em"]
    for name, text in logs.items():
        found = [s for s in secrets if s in text]
        assert not found, f"{name} logs {found}"


def test_ctrl_c_stops_everything_cleanly() -> None:
    # World-readable like /tmp itself: a root-started Mosquitto reads the demo's files as `mosquitto`.
    tmp = Path(tempfile.mkdtemp(prefix="demo-ctrl-c-"))
    tmp.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(tmp)},
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
    # Processes of THIS demo (its working directory is under a TMPDIR of this test's own): another demo on
    # the machine (a parallel test worker) is not this one's leftover.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "kiosk or broker processes outlived the demo"
    shutil.rmtree(tmp, ignore_errors=True)
