"""The kiosk service as systemd runs it: a real process, a real broker, the real hub ingest."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt

from kiosk.simulate import script_for, write_replay_folder
from provisioning.issuer import create_issuer_key, mint_pass, save_issuer_key
from testkit.linkrig import hub_database, start_hub, stored_count, wait_for
from testkit.services import MosquittoBroker
from tests.conftest import REPO_ROOT
from wire import topics
from wire.status import KioskStatus

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"


def write_config(tmp_path: Path, broker_port: int, payloads: list[str]) -> Path:
    camera = tmp_path / "camera"
    write_replay_folder(camera, script_for(payloads, hold_frames=4, gap_frames=20), 640, 480)
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f"""
[kiosk]
kiosk_id = "kiosk-svc"
checkpoint_id = "sm-01"
mode = "self"
state_dir = "{tmp_path / "state"}"
assume_clock_trusted = true

[camera]
source = "replay"
path = "{camera}"
fps = 30
loop = true

[decode]
dedupe_window_s = 600

[verify]
trust = ["{tmp_path / "issuers"}"]

[policy]
identity_only = "PASS"

[screen]
port = 0

[mqtt]
port = {broker_port}
ack_timeout_s = 2
backoff_min_s = 0.1
backoff_max_s = 1
status_interval_s = 1
"""
    )
    return config


def test_service_scans_publishes_notifies_systemd_and_stops_cleanly_on_sigterm(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    issuer = create_issuer_key("VN-HN")
    save_issuer_key(issuer, tmp_path / "issuers")
    now = datetime.now(UTC)
    a_pass = mint_pass(
        issuer, id_number="001099012346", name="Trần Thị Bình", dob="1999-02-02",
        valid_from=now - timedelta(hours=1), valid_until=now + timedelta(days=1),
    )  # fmt: skip
    config = write_config(tmp_path, broker.port, [CCCD, a_pass])
    db = hub_database(tmp_path / "hub.db")
    hub = start_hub(db, broker.port)

    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "GPIOZERO_PIN_FACTORY": "mock"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert notify.recv(4096).startswith(b"READY=1")
        wait_for(lambda: stored_count(db) >= 2, 60, "both passages stored at the hub")
        # The service's status fields and the link's make one message of wire/status.py: none unknown.
        online = KioskStatus.from_dict(_retained(broker, topics.status("kiosk-svc")))
        assert online.online and online.model_extra == {} and online.clock is not None and online.camera
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        hub.stop()
    assert proc.returncode == 0, err
    assert b"STOPPING=1" in _drain(notify)
    assert "Traceback" not in err

    status = _retained(broker, topics.status("kiosk-svc"))
    assert status["state"] == "offline"
    from testkit.linkrig import stored_seqs

    assert stored_seqs(db, "kiosk-svc")[:2] == [1, 2]


def _drain(sock: socket.socket) -> bytes:
    sock.settimeout(0.5)
    data = b""
    try:
        while True:
            data += sock.recv(4096) + b"\n"
    except TimeoutError:
        return data


def _retained(broker: MosquittoBroker, topic: str) -> dict:
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, m: got.append(m.payload)
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        wait_for(lambda: bool(got), 10, f"retained message on {topic}")
    finally:
        client.loop_stop()
        client.disconnect()
    return json.loads(got[-1])


def test_run_refuses_to_start_half_armed(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[kiosk]\nkiosk_id = "k1"\ncheckpoint_id = "c1"\nstate_dir = "{tmp_path}"\n'
        f'[verify]\ntrust = ["{tmp_path / "missing"}"]\n[screen]\nport = 0\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "run", "--config", str(config)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr
