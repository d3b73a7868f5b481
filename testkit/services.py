"""Real services for tests, started on free ports and owned by the test run.

Nothing here depends on a broker or database already running on the machine: each fixture starts
its own instance in a temporary directory, so fault tests can kill and restart it at will.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from demo.mosquitto import MosquittoBroker, find_executable, free_port, wait_for_port

__all__ = ["MosquittoBroker", "PostgresServer", "find_executable", "free_port", "wait_for_port"]


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
            self._wait_accepting(timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"postgres did not start: {self.log_path.read_text()[-2000:]}") from None

    def _wait_accepting(self, timeout: float) -> None:
        """The port opens before recovery ends ("the database system is starting up"): wait for a login."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(
                    self.url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=2
                ).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError("postgres accepts no logins") from None
                time.sleep(0.05)

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


_db_counter = itertools.count()


def fresh_postgres_url(server_url: str) -> str:
    """A new empty database on the session's private PostgreSQL, so tests never see each other's rows."""
    name = f"hub_test_{next(_db_counter)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def mosquitto_file_owner() -> str | None:
    """Mosquitto started as root drops to its `mosquitto` user before reading its files: that user must
    own a generated broker directory (None when not root, or no such user)."""
    import os
    import pwd

    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    return "mosquitto"


@contextlib.contextmanager
def broker_files_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a test writes a generated broker config. As root, Mosquitto reads it as `mosquitto`, who
    cannot enter pytest's /tmp/pytest-of-root (0700, and every new pytest session resets it to 0700):
    a directory of its own in /tmp, removed afterwards."""
    if mosquitto_file_owner() is None:
        yield tmp_path / "broker"
        return
    directory = Path(tempfile.mkdtemp(prefix="broker-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
