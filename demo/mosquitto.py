"""A private Mosquitto on a free port, owned by whoever starts it: the demo, the tests, the benchmarks.

Nothing here uses a broker already running on the machine: each instance runs from its own directory with
its own config, so a fault test can kill and restart it at will and the demo leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from wire.envelope import MAX_MQTT_PACKET_BYTES


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Block until something accepts connections on the port, or raise after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def wait_for_signal_handler(pid: int, sig: int, timeout: float = 10.0) -> None:
    """Block until process `pid` catches `sig` (Linux /proc; returns at once elsewhere).

    Mosquitto opens its listening socket before it installs its SIGTERM handler: a SIGTERM in that window
    kills it with the default action, so a "clean stop" right after start saved nothing (a test that stops
    the broker at once failed on a busy machine)."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lines = status.read_text().splitlines()
            caught = next(int(line.split()[1], 16) for line in lines if line.startswith("SigCgt:"))
        except (OSError, StopIteration, ValueError):
            return  # no /proc, or the process is gone: the caller's own checks report it
        if caught & (1 << (sig - 1)):
            return
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} did not install a handler for signal {sig} in {timeout}s")


def find_executable(name: str) -> str:
    """Locate a system binary, also in sbin directories that a non-login PATH may lack."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError(f"{name} is not installed (scripts/test installs it when run as root)")


@dataclass
class MosquittoBroker:
    """A private Mosquitto on a free port. `kill()` and `start()` simulate a broker crash.

    `config_file` runs a configuration made elsewhere (e.g. by provisioning/broker.py, for the same
    `port`) as it is, instead of the plain anonymous loopback listener written here.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    persistence: bool = True
    config_file: Path | None = None
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def config_path(self) -> Path:
        return self.config_file or self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.config_file is not None:
            return
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
            f"max_packet_size {MAX_MQTT_PACKET_BYTES}",  # as the generated config (provisioning/broker.py)
            self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        if self.running:
            return
        self.write_config()
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [find_executable("mosquitto"), "-c", str(self.config_path)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port)
            wait_for_signal_handler(self._proc.pid, signal.SIGTERM)
        except TimeoutError:
            self.kill()
            raise RuntimeError(f"mosquitto did not start: {self.log_path.read_text()[-2000:]}") from None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to save its state."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (Mosquitto saves its persistence file)."""
        self._signal(signal.SIGTERM)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads parts of its configuration without restarting."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    def _signal(self, sig: int) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(sig)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None
