"""A small but real registry server (docs/registry-api.md): the test double the hub's forwarder talks to.

It implements the contract the real national registry offers (`POST /v1/passages`, `GET /v1/flags`,
bearer token) and remembers everything it received, so tests can check "each event once in effect".
It can be told to misbehave, from Python (`RegistryServer.faults`) or over HTTP (`POST /admin/faults`):
fail with a 5xx, stall (no answer until the client times out), answer slowly, or refuse given events
with a 4xx. Standard library only (ThreadingHTTPServer): no dependency for a test double.

Run: `python -m testkit.registry_server --port 8750 --token secret`
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

MAX_BODY = 16 * 1024 * 1024
STALL_LIMIT_S = 60.0  # a stalled request still ends eventually: every wait is bounded


@dataclass
class Faults:
    """What the server does wrong. All fields may be changed while it runs (under `RegistryState.lock`)."""

    fail_status: int | None = None  # answer every POST with this 5xx ...
    fail_count: int | None = None  # ... this many times (None: until cleared)
    stall: bool = False  # accept the connection, never answer (until cleared or STALL_LIMIT_S)
    delay_s: float = 0.0  # answer correctly, but this late
    reject: dict[str, tuple[int, str]] = field(default_factory=dict)  # event_id -> (4xx status, reason)
    redirect_to: str | None = None  # answer every request 307 to this base URL (a moved or hostile registry)


@dataclass
class RegistryState:
    """What the registry has received, shared by the handler threads."""

    token: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: Faults = field(default_factory=Faults)
    released: threading.Event = field(default_factory=threading.Event)  # ends stalls
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id -> body, first copy
    arrivals: list[str] = field(default_factory=list)  # event_ids in the order first accepted
    keys: dict[str, list[str | None]] = field(default_factory=dict)  # Idempotency-Key -> event_ids
    requests: list[tuple[str, list[str | None], int]] = field(default_factory=list)  # (key, ids, status)
    flags: list[dict[str, Any]] = field(default_factory=list)  # flag changes, version = index + 1

    def add_flag(self, target: str, status: str, *, lifted: bool = False, **extra: Any) -> int:
        """Append a flag change (F0/F1/F2/revoked, or a lift); returns its version."""
        with self.lock:
            version = len(self.flags) + 1
            self.flags.append(
                {"version": version, "target_kind": "person", "target": target, "status": status}
                | {"lifted": lifted}
                | extra
            )
            return version

    def post_passages(self, key: str, batch: list[Any]) -> tuple[int, dict[str, Any]]:
        """The contract's decision for one accepted-for-processing request (faults already applied)."""
        ids = [e.get("event_id") for e in batch if isinstance(e, dict)]
        if len(ids) != len(batch) or not all(isinstance(i, str) for i in ids):
            return 400, {"error": "every element must be an object with a string event_id"}
        with self.lock:
            for event_id in ids:
                if event_id in self.faults.reject:
                    status, reason = self.faults.reject[event_id]
                    return status, {"error": reason, "event_id": event_id}
            if key in self.keys:
                return 409, {"error": "idempotency key already used", "event_ids": self.keys[key]}
            new = [i for i in ids if i not in self.events]
            self.keys[key] = ids
            if not new:
                return 409, {"error": "all events already received"}
            for ev in batch:
                if ev["event_id"] not in self.events:
                    self.events[ev["event_id"]] = ev
                    self.arrivals.append(ev["event_id"])
            return 201, {"accepted": len(new), "duplicates": len(ids) - len(new)}

    def take_failure(self) -> int | None:
        """The 5xx to answer now, if a failure is armed (counts down `fail_count`)."""
        with self.lock:
            f = self.faults
            if f.fail_status is None:
                return None
            if f.fail_count is not None:
                if f.fail_count <= 0:
                    f.fail_status = f.fail_count = None
                    return None
                f.fail_count -= 1
            return f.fail_status

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()
        self.released.set()

    def set_faults(self, **changes: Any) -> None:
        """E.g. `set_faults(stall=True)`; `reject` takes {event_id: [status, reason]}."""
        with self.lock:
            if "reject" in changes:
                changes["reject"] = {k: (int(v[0]), str(v[1])) for k, v in changes["reject"].items()}
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self.faults, name, value)
            if self.faults.stall:
                self.released.clear()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `RegistryState.requests` instead of a log."""

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirected(self) -> bool:
        with self.server.state.lock:
            target = self.server.state.faults.redirect_to
        if target is None or urlparse(self.path).path.startswith("/admin/"):
            return False
        self.send_response(307)
        self.send_header("Location", target.rstrip("/") + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True  # a POST's body was not read
        return True

    def _authorised(self) -> bool:
        if self.headers.get("Authorization", "") == f"Bearer {self.server.state.token}":
            return True
        self._reply(401, {"error": "missing or wrong bearer token"})
        return False

    def _json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return json.loads(self.rfile.read(length) or b"null")

    def do_GET(self) -> None:
        if self._redirected() or not self._authorised():
            return
        url = urlparse(self.path)
        state = self.server.state
        if url.path == "/v1/flags":
            try:
                since = int(parse_qs(url.query).get("since", ["0"])[0])
            except ValueError:
                self._reply(400, {"error": "since must be an integer version"})
                return
            with state.lock:
                changes = [f for f in state.flags if f["version"] > since]
                head = len(state.flags)
            self._reply(200, {"version": head, "changes": changes})
        elif url.path == "/admin/received":
            with state.lock:
                self._reply(200, {"arrivals": list(state.arrivals), "requests": list(state.requests)})
        else:
            self._reply(404, {"error": "no such resource"})

    def do_POST(self) -> None:
        if self._redirected() or not self._authorised():
            return
        state = self.server.state
        try:
            body = self._json_body()
        except ValueError as exc:
            self._reply(400, {"error": f"invalid JSON: {exc}"})
            return
        path = urlparse(self.path).path
        if path == "/admin/faults":
            try:
                state.clear_faults() if body in (None, {}) else state.set_faults(**body)
            except (TypeError, ValueError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"ok": True})
            return
        if path != "/v1/passages":
            self._reply(404, {"error": "no such resource"})
            return
        key = self.headers.get("Idempotency-Key", "")
        if not isinstance(body, list) or not key:
            self._reply(400, {"error": "expected a JSON array and an Idempotency-Key header"})
            return
        with state.lock:
            stall, delay = state.faults.stall, state.faults.delay_s
        if stall:
            state.released.wait(STALL_LIMIT_S)
            self.close_connection = True
            return
        if delay:
            time.sleep(min(delay, STALL_LIMIT_S))
        failure = state.take_failure()
        status, answer = (
            (failure, {"error": "injected failure"}) if failure else state.post_passages(key, body)
        )
        with state.lock:
            state.requests.append((key, [e.get("event_id") for e in body if isinstance(e, dict)], status))
        self._reply(status, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: RegistryState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class RegistryServer:
    """Owns a running registry on 127.0.0.1:`port` (0 = any free port) in a background thread."""

    def __init__(self, token: str, port: int = 0, host: str = "127.0.0.1") -> None:
        self.state = RegistryState(token=token)
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self) -> None:
        """Listen (again, after stop(): same port, same received data: a registry restart)."""
        self._server = _Server((self._host, self._port), self.state)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="registry", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (connections are then refused) and end any stalled request."""
        self.state.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RegistryServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8750)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", required=True, help="bearer token clients must present")
    args = parser.parse_args(argv)
    server = RegistryServer(token=args.token, port=args.port, host=args.host)
    server.start()
    print(f"registry listening on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
