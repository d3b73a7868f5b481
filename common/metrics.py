"""The `[metrics]` section and the HTTP endpoint Prometheus scrapes, shared by the kiosk and the hub.

Each service builds its own `CollectorRegistry` (never the library's global one), so several services in
one process (tests, the demo) keep their figures apart, and serves it on its own small listener:

- bound to loopback by default: metrics carry no personal data (no ids, no id hashes, no names in labels:
  kiosk/metrics.py and hub/metrics.py keep every label to a small fixed set), but they do describe the
  deployment; a fleet's Prometheus reaches them through an address the operator chooses on purpose;
- never fatal: a port already taken is logged and the service runs without metrics. A kiosk must keep
  scanning and a hub keep ingesting whatever happens to its observability.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)


class MetricsConfig(BaseModel):
    """Where the Prometheus endpoint listens (`GET http://HOST:PORT/metrics`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    host: str = Field(
        "127.0.0.1",
        description="an IP address to bind (loopback by default; 0.0.0.0 or a management address to let a"
        " fleet Prometheus scrape it)",
    )
    port: int = Field(9101, ge=0, le=65535, description="0: any free port (tests, demo)")

    @field_validator("host")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        """An address, not a name: a name resolving elsewhere would expose the endpoint by surprise."""
        if value == "localhost":
            return "127.0.0.1"
        try:
            return str(ipaddress.ip_address(value.strip("[]")))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)") from None


class MetricsServer:
    """The registry served over HTTP in a daemon thread; `stop()` closes the socket."""

    def __init__(self, registry: CollectorRegistry, config: MetricsConfig, what: str) -> None:
        self.registry = registry
        self.config = config
        self.what = what
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        if not self.config.enabled:
            return self
        try:
            self._httpd, self._thread = start_http_server(
                self.config.port, addr=self.config.host, registry=self.registry
            )
        except OSError as exc:  # the port is taken: observability must not stop the service
            log.error(
                "%s metrics not served on %s:%d: %s", self.what, self.config.host, self.config.port, exc
            )
            return self
        log.info("%s metrics on %s", self.what, self.url)
        return self

    @property
    def port(self) -> int | None:
        """The bound port (the real one when the config said 0), None when not serving."""
        return None if self._httpd is None else int(self._httpd.server_port)

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
