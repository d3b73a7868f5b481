"""`hub serve` as a real child process with its own config file, for tests that kill and restart it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private, write_private_key


@dataclass
class HubProcess:
    workdir: Path
    broker_port: int
    database_url: str = ""
    registry_url: str | None = None
    registry_token: str = "test-token"
    workers: int = 1
    http_port: int = 0
    signing_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    _proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.workdir / 'hub.db'}"
        write_private_key(self.workdir / "hub-signing.pem", self.signing_key)
        write_private(self.workdir / "registry.token", self.registry_token.encode())
        lines = [
            f'database_url = "{self.database_url}"',
            f'signing_key = "{self.workdir / "hub-signing.pem"}"',
            "[mqtt]",
            f"port = {self.broker_port}",
            f"workers = {self.workers}",
            "[http]",
            f"port = {self.http_port}",
        ]
        if self.registry_url:
            lines += [
                "[registry]",
                f'url = "{self.registry_url}"',
                f'token_file = "{self.workdir / "registry.token"}"',
                "timeout_s = 2",
                "poll_flags_s = 1",
                "max_backoff_s = 1",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def config_path(self) -> Path:
        return self.workdir / "hub.toml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "hub.log"

    def start(self) -> HubProcess:
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--config", str(self.config_path), "serve"],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a power cut of the hub machine, as far as its own process can tell."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def stop(self) -> int:
        """SIGTERM, the way systemd stops it; returns the exit code."""
        if self._proc is None:
            return 0
        self._proc.send_signal(signal.SIGTERM)
        try:
            code = self._proc.wait(20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait(10)
        self._proc = None
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
