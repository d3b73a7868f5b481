"""Real services for tests, started on free ports and owned by the test run.

Nothing here depends on a broker or database already running on the machine: each fixture starts
its own instance in a temporary directory, so fault tests can kill and restart it at will.
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


def find_postgres_bin(name: str) -> str:
    """A PostgreSQL server binary (initdb, postgres): Debian keeps them in /usr/lib/postgresql/NN/bin."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if versions:
        return str(versions[-1])
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"PostgreSQL {name} is not installed (scripts/test installs it when run as root)")


@dataclass
class PostgresServer:
    """A private PostgreSQL in a temporary directory on a free port, never the machine's own cluster.

    PostgreSQL refuses to run as root, so under root the data directory is handed to the `postgres`
    user and the server runs as that user via `runuser`. Trust authentication on 127.0.0.1 only.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    user: str = "hub"
    durable: bool = False  # tests: fsync off (speed); benchmarks: fsync on, as a real hub runs it
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def _as_owner(self, argv: list[str]) -> list[str]:
        import os

        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self) -> None:
        import os
        import pwd

        self.workdir.mkdir(parents=True, exist_ok=True)
        sock = self.workdir / "sock"
        sock.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.workdir, sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # runuser needs to traverse the parents of the tmp dir.
            for parent in self.workdir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        if not self.data_dir.exists():
            subprocess.run(
                self._as_owner(
                    [
                        find_postgres_bin("initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        self.user,
                        "--auth=trust",
                        "--no-sync",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ]
                ),
                check=True,
                capture_output=True,
                timeout=60,
            )
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self._as_owner(
                [
                    find_postgres_bin("postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(sock),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"fsync={'on' if self.durable else 'off'}",
                    "-c",
                    "max_connections=50",
                ]
            ),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"postgres did not start: {self.log_path.read_text()[-2000:]}") from None

    def stop(self) -> None:
        """SIGINT = PostgreSQL's fast shutdown; SIGKILL if it does not go within 10 s."""
        if self._proc is None:
            return
        import os

        # Signal the whole session: under root the direct child is `runuser`, which does not forward it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGINT)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=10)
        self._proc = None
