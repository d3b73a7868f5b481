"""The kiosk's local screen: a page for Chromium in kiosk mode, served on the loopback interface.

Standard-library HTTP server: one local client (the kiosk's own Chromium), a handful of routes, no
dependency to install on the Pi. Assets are packaged files, never a CDN: kiosks run offline.

Routes: `GET /` the page; `GET /static/*`; `GET /api/state?since=N` (long poll, JSON);
`POST /api/officer` (assisted mode: confirm or override the shown verdict, with the officer id);
`POST /api/manual` (assisted mode: a paper declaration typed in by the officer).

Only the kiosk's own page may talk to it. Any web page the browser opens could otherwise reach
127.0.0.1: a cross-site form or `text/plain` fetch could record an override, and a page whose own
domain is re-pointed at 127.0.0.1 (DNS rebinding) could read names and dates of birth from
`/api/state`. So every request must name this server in `Host` (loopback names, the bind address and
`screen.allowed_hosts`), a request carrying `Origin` must come from such a host on this port, and a
POST must be `application/json` (which a cross-site page cannot send without a CORS preflight, which
this server never grants).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse, urlsplit

from kiosk.screen.state import ScreenState

log = logging.getLogger(__name__)

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
MAX_BODY = 16 * 1024
LONG_POLL_S = 20.0
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})

Action = Callable[[dict[str, Any]], dict[str, Any]]


class ActionRefused(ValueError):
    """An officer action that cannot be carried out; the message is shown to the officer."""


class ScreenServer:
    def __init__(
        self,
        state: ScreenState,
        host: str = "127.0.0.1",
        port: int = 8080,
        on_officer: Action | None = None,
        on_manual: Action | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.state = state
        extra = {h.lower().strip("[]") for h in (host, *allowed_hosts)} - WILDCARD_BINDS
        self.allowed_hosts = LOOPBACK_NAMES | extra
        self._on_officer = on_officer
        self._on_manual = on_manual
        handler = type("Handler", (_Handler,), {"screen": self})
        self.httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> ScreenServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="screen-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()  # waits for serve_forever to return: only if it ever ran
            self._thread = None
        self.httpd.server_close()

    def host_allowed(self, hostname: str | None) -> bool:
        return hostname is not None and hostname.lower().strip("[]") in self.allowed_hosts

    def action(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        handler = self._on_officer if name == "officer" else self._on_manual
        if handler is None or not self.state.assisted:
            raise ActionRefused("officer actions are available in assisted mode only")
        return handler(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    server_address: tuple[str, int] | tuple[str, int, int, int]  # bound by a host name: never bytes

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The browser dropping a long poll (a reload, a closed tab) is routine, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("screen: client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    screen: ScreenServer
    server: _Server
    server_version = "kiosk-screen"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("screen: " + format, *args)

    def _refused(self) -> bool:
        """Answer 403 unless the request names this server (Host) and, if it says, comes from it (Origin)."""
        port = self.server.server_address[1]
        try:
            host = urlsplit("//" + self.headers.get("Host", ""))
            host_ok = self.screen.host_allowed(host.hostname) and host.port in (None, port)
            origin = self.headers.get("Origin")
            if origin is not None:
                o = urlsplit(origin)
                origin_ok = o.scheme == "http" and self.screen.host_allowed(o.hostname) and o.port == port
            else:
                origin_ok = True
        except ValueError:  # a malformed port
            host_ok = origin_ok = False
        if host_ok and origin_ok:
            return False
        what = "Host" if not host_ok else "Origin"
        log.warning(
            "screen: refused %s %r with %s %r", self.command, self.path[:64], what, self.headers.get(what)
        )
        self._json(
            HTTPStatus.FORBIDDEN, {"error": f"{what} not allowed: the screen serves its own page only"}
        )
        return True

    def do_GET(self) -> None:
        if self._refused():
            return
        url = urlparse(self.path)
        if url.path == "/":
            self._static("index.html")
        elif url.path.startswith("/static/"):
            self._static(url.path.removeprefix("/static/"))
        elif url.path == "/api/state":
            since = parse_qs(url.query).get("since", ["-1"])[0]
            try:
                version = int(since)
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "since must be an integer"})
                return
            state = (
                self.screen.state.snapshot()
                if version < 0
                else self.screen.state.wait_newer(version, LONG_POLL_S)
            )
            self._json(HTTPStatus.OK, state)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        name = {"/api/officer": "officer", "/api/manual": "manual"}.get(urlparse(self.path).path)
        if name is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        if self._refused():
            return
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self.close_connection = True  # the body is not read
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "Content-Type must be application/json"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "a JSON body of at most 16 KiB is required"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise ValueError("not an object")
            result = self.screen.action(name, body)
        except (ValueError, UnicodeDecodeError) as exc:  # ActionRefused included
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, result)

    def _static(self, name: str) -> None:
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if "/" in name or suffix not in STATIC_TYPES:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            data = resources.files("kiosk.screen").joinpath("static", name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        self._send(HTTPStatus.OK, data, STATIC_TYPES[suffix])

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", "default-src 'self'")
        self.end_headers()
        self.wfile.write(data)
