"""`kiosk doctor` (issue 15, item 7): every part of a kiosk checked in one command, against real parts
where this machine has them: replayed camera frames, gpiozero mock pins, a real Mosquitto (plain and
with our CA's certificates), a real tmpfs filled up, the real time-floor file."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from demo.world import write_world
from hub.flag_publisher import write_public_key
from kiosk.config import KioskConfig, load_config
from kiosk.doctor import CheckResult, Level, doctor_checks, probe_pins, run_checks, worst
from kiosk.simulate import script_for, write_replay_folder
from provisioning.ca import CertificateAuthority
from provisioning.issuer import create_issuer_key, save_issuer_key
from testkit.services import MosquittoBroker, broker_files_dir, free_port
from tests.conftest import REPO_ROOT
from tests.provisioning.test_broker_tls import Fleet


class HeldLowPin(MockPin):
    """A pin an external part holds low (hardware is what the tests replace): the pull-up cannot lift it."""

    def _set_pull(self, value: str) -> None:
        self._pull = value


CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"


def config_for(
    tmp_path: Path, broker_port: int, *, with_card: bool = True, **sections: object
) -> KioskConfig:
    camera = tmp_path / "camera"
    if not camera.exists():
        script = script_for([CCCD] if with_card else [], hold_frames=6, gap_frames=2)
        write_replay_folder(camera, script, 640, 480)
    if not (tmp_path / "issuers").exists():
        save_issuer_key(create_issuer_key("VN-HN"), tmp_path / "issuers")
    base: dict[str, object] = {
        "kiosk": {"kiosk_id": "kiosk-doc", "checkpoint_id": "cp-1", "state_dir": str(tmp_path / "state"),
                  "assume_clock_trusted": True},
        "camera": {"source": "replay", "path": str(camera), "fps": 15, "loop": True},
        "verify": {"trust": [str(tmp_path / "issuers")]},
        "mqtt": {"port": broker_port},
    }  # fmt: skip
    hub_public = write_public_key(tmp_path / "hub-signing.pem", Ed25519PrivateKey.generate())
    base["verify"] = {"trust": [str(tmp_path / "issuers")], "hub_public_key": str(hub_public)}
    (tmp_path / "state").mkdir(exist_ok=True)
    return KioskConfig.model_validate({**base, **sections})


def check(config: KioskConfig, **kwargs: object) -> dict[str, CheckResult]:
    kwargs.setdefault("pin_factory", MockFactory(pin_class=MockPWMPin))
    kwargs.setdefault("camera_seconds", 1.0)
    results = run_checks(doctor_checks(config, **kwargs), timeout_s=30)
    return {r.name: r for r in results}


def test_a_healthy_kiosk_passes_every_check(broker: MosquittoBroker, tmp_path: Path) -> None:
    results = check(config_for(tmp_path, broker.port))
    assert list(results) == ["camera", "card", "pins", "clock", "broker", "trust", "flags", "rules", "disk"]
    levels = {name: r.level for name, r in results.items()}
    # The camera's rate is wall-clock: on a loaded machine the replay may run slow (WARN), never FAIL.
    assert levels.pop("camera") in (Level.OK, Level.WARN), results
    assert levels == {**dict.fromkeys(levels, Level.OK), "flags": Level.WARN}, results  # no flag list yet
    assert "test card decoded" in results["card"].detail
    assert "frames in" in results["camera"].detail and "connected to 127.0.0.1" in results["broker"].detail
    assert CCCD.split("|")[0] not in " ".join(r.detail for r in results.values())  # no code content shown


def test_the_command_prints_a_line_per_check_and_exits_1_on_a_missing_camera(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    good = config_for(tmp_path, broker.port)
    path = tmp_path / "kiosk.toml"

    def run(camera_path: Path) -> subprocess.CompletedProcess[str]:
        path.write_text(
            f'[kiosk]\nkiosk_id = "kiosk-doc"\ncheckpoint_id = "cp-1"\nstate_dir = "{good.kiosk.state_dir}"\n'
            "assume_clock_trusted = true\n"
            f'[camera]\nsource = "replay"\npath = "{camera_path}"\nfps = 15\nloop = true\n'
            f'[verify]\ntrust = ["{tmp_path / "issuers"}"]\n[mqtt]\nport = {broker.port}\n'
        )
        return subprocess.run(
            [sys.executable, "-m", "kiosk.cli", "doctor", "--config", str(path), "--seconds", "1"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"},
        )  # fmt: skip

    ok = run(Path(str(good.camera.path)))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert len(lines) == 9 and all(line.split()[0] in ("OK", "WARN") for line in lines)
    gone = run(tmp_path / "no-such-camera")
    assert gone.returncode == 1
    assert any(
        line.startswith("FAIL") and "camera" in line and "cannot open" in line
        for line in gone.stdout.splitlines()
    )
    assert "Traceback" not in gone.stderr


def test_frames_without_a_code_fail_the_card_check(broker: MosquittoBroker, tmp_path: Path) -> None:
    results = check(config_for(tmp_path, broker.port, with_card=False))
    assert results["camera"].level in (Level.OK, Level.WARN)  # WARN: slow on a loaded machine
    assert results["card"].level == Level.FAIL and "hold the test card" in results["card"].detail
    assert "card" not in check(config_for(tmp_path, broker.port, with_card=False), card=False)


def test_a_closed_broker_port_fails_and_a_silent_one_times_out(tmp_path: Path) -> None:
    closed = check(config_for(tmp_path, free_port()))["broker"]
    assert closed.level == Level.FAIL and "cannot reach broker" in closed.detail
    silent = socket.socket()  # accepts TCP, never speaks MQTT
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        config = config_for(tmp_path, silent.getsockname()[1])
        started = time.monotonic()
        result = check(config, broker_timeout_s=1.0)["broker"]
        assert result.level == Level.FAIL and "did not answer" in result.detail
        assert time.monotonic() - started < 25  # bounded by the check's own timeout, not hanging
    finally:
        silent.close()


@pytest.fixture
def tls_fleet(tmp_path: Path) -> Iterator[Fleet]:
    with broker_files_dir(tmp_path) as directory:
        fleet = Fleet(tmp_path, directory)
        fleet.kiosks.append("kiosk-doc")
        fleet.files = fleet.write()
        fleet.broker.start()
        try:
            yield fleet
        finally:
            fleet.broker.kill()


def tls_config(tmp_path: Path, fleet: Fleet, cert: Path, key: Path, ca: Path | None = None) -> KioskConfig:
    tls = {"ca_file": str(ca or fleet.files.cafile), "cert_file": str(cert), "key_file": str(key)}
    return config_for(tmp_path, fleet.settings.port, mqtt={"port": fleet.settings.port, "tls": tls})


def test_the_broker_check_uses_the_kiosks_certificate_and_fails_clearly_on_a_wrong_one(
    tmp_path: Path, tls_fleet: Fleet
) -> None:
    own = tls_fleet.identity("kiosk-doc")
    good = check(tls_config(tmp_path, tls_fleet, own.cert_file, own.key_file))["broker"]
    assert good.level == Level.OK and "TLS with the kiosk's certificate" in good.detail, good
    rogue_ca = CertificateAuthority.create(tmp_path / "rogue-ca")
    forged = tls_fleet.foreign_identity("forged", "kiosk-doc", rogue_ca, (-1, 30))
    refused = check(tls_config(tmp_path, tls_fleet, forged.cert_file, forged.key_file))["broker"]
    assert refused.level == Level.FAIL, refused
    expired = tls_fleet.foreign_identity("expired", "kiosk-doc", tls_fleet.ca, (-60, -1))
    old = check(tls_config(tmp_path, tls_fleet, expired.cert_file, expired.key_file))["broker"]
    assert old.level == Level.FAIL and "expired" in old.detail, old
    # The kiosk does not trust the broker's certificate (a CA file from another deployment).
    untrusted = check(tls_config(tmp_path, tls_fleet, own.cert_file, own.key_file, rogue_ca.cert_path))[
        "broker"
    ]
    assert untrusted.level == Level.FAIL and "TLS handshake" in untrusted.detail, untrusted


def test_a_full_disk_fails(broker: MosquittoBroker, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        with (small / "filler").open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        config = config_for(tmp_path, broker.port)
        config = config.model_copy(update={"kiosk": config.kiosk.model_copy(update={"state_dir": small})})
        disk = check(config)["disk"]
        assert disk.level == Level.FAIL and "cannot write" in disk.detail, disk
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_pins_respond_and_a_pin_held_elsewhere_fails(tmp_path: Path) -> None:
    config = config_for(tmp_path, free_port(), indicator={"gate_pin": 24}, buttons={"confirm_pin": 5})
    factory = MockFactory(pin_class=MockPWMPin)
    level, detail = probe_pins(config, factory)
    assert level == Level.OK and "6 pins" in detail, detail
    assert factory.pin(24).state == 0  # the gate was never driven open
    stuck = MockFactory(pin_class=HeldLowPin)  # the confirm button jammed down: low, pull-up or not
    level, detail = probe_pins(config, stuck)
    assert level == Level.WARN and "confirm button on GPIO5 reads pressed" in detail, detail
    holder = LED(27, pin_factory=factory)  # `kiosk run` holding the red light
    try:
        level, detail = probe_pins(config, factory)
        assert level == Level.FAIL and "holding the pins" in detail
    finally:
        holder.close()


def test_a_clock_behind_its_time_floor_fails(broker: MosquittoBroker, tmp_path: Path) -> None:
    config = config_for(tmp_path, broker.port)
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)  # a floor proven a month ahead of this clock
    (Path(config.kiosk.state_dir) / "time-floor.json").write_text(json.dumps({"floor": ahead.timestamp()}))
    clock = check(config)["clock"]
    assert clock.level == Level.FAIL and "behind_floor" in clock.detail


def test_a_check_that_never_answers_fails_at_its_timeout() -> None:
    started = time.monotonic()
    results = run_checks(
        [("stuck", lambda: time.sleep(3600) or (Level.OK, "")), ("fine", lambda: (Level.OK, "x"))], 1.0
    )
    assert [(r.name, r.level) for r in results] == [("stuck", Level.FAIL), ("fine", Level.OK)]
    assert "no answer within 1 s" in results[0].detail and worst(results) == Level.FAIL
    assert time.monotonic() - started < 30


def test_the_demos_kiosks_pass(broker: MosquittoBroker, tmp_path: Path) -> None:
    files = write_world(
        tmp_path / "demo", broker.port, "http://127.0.0.1:9", free_port(), dt.datetime.now(dt.UTC)
    )
    for kiosk_id, path in files.kiosk_configs.items():
        results = check(load_config(path), camera_seconds=2.0)
        assert worst(list(results.values())) != Level.FAIL, (kiosk_id, results)
        assert results["card"].level == Level.OK
