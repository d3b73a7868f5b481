"""`hub serve`: ingest workers, the flag publisher, the fleet view, the registry forwarder and the
operators' API (hub/api/, uvicorn in a thread; `[http] enabled`) in one process.

Each part is its own object with its own thread; the service only wires them and stops them on
SIGTERM. Flags added by operators from another process (the CLI) reach kiosks within a second:
the publisher looks at the flag log's head version every second.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

import sqlalchemy as sa

from common.flagkey import DEFAULT_KEY, read_flag_key
from common.liveness import Heartbeats, watchdog_ok
from common.metrics import MetricsServer
from common.sdnotify import SystemdNotifier, watchdog_interval_s
from hub.api import ApiSettings, create_app
from hub.config import HubConfig
from hub.db import Database, open_database
from hub.flag_publisher import FlagPublisher, load_signing_key
from hub.flags import sync_from_registry
from hub.fleet import record_status
from hub.http_server import ApiServer
from hub.key_rotation import announcement_path, load_announcement
from hub.metrics import HubMetrics
from hub.mqtt_ingest import IngestWorker
from hub.registry.client import RegistryClient
from hub.registry.forwarder import Forwarder, ForwarderConfig
from hub.schema import migrate
from wire.status import KioskStatus

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def flag_key(config: HubConfig) -> bytes:
    if config.flag_key_file is None:
        log.warning("no flag_key_file: using the development id-hash key; set a deployment key")
        return DEFAULT_KEY
    return read_flag_key(config.flag_key_file)


class HubService:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.db: Database = open_database(config.database_url)
        migrate(self.db, utc_now())
        self.stop_event = threading.Event()
        self.heartbeats = Heartbeats()
        m = config.mqtt
        *ingest_ids, flags_id = m.client_ids()
        self.workers = [
            IngestWorker(
                self.db,
                m.host,
                m.port,
                client_id=client_id,
                tls=m.tls_for(client_id),
                partition=i,
                partitions=len(ingest_ids),
                heartbeats=self.heartbeats,
            )
            for i, client_id in enumerate(ingest_ids)
        ]
        self.publisher = FlagPublisher(
            self.db,
            load_signing_key(config.signing_key),
            flag_key(config),
            m.host,
            m.port,
            client_id=flags_id,
            tls=m.tls_for(flags_id),
            on_status=self._status,  # the process's one status subscriber
            heartbeats=self.heartbeats,
        )
        self.registry: RegistryClient | None = None
        if config.registry is not None:
            token = config.registry.token_file.read_text().strip()
            self.registry = RegistryClient(config.registry.url, token, config.registry.timeout_s)
        self._threads: list[threading.Thread] = []
        self._flags_changed = threading.Event()
        self._rotation_stamp: int | None = None
        self.metrics = HubMetrics(self)  # read from the workers and the database at scrape time
        self.metrics_server = MetricsServer(self.metrics.registry, config.metrics, "hub")
        self.api: ApiServer | None = None
        if config.http.enabled:
            settings = ApiSettings(
                stale_after_s=config.stale_after_s,
                timezone=config.zone,
                on_flags_changed=self._flags_changed.set,
                secure_cookie=config.http.secure_cookie,
            )
            app = self.metrics.instrument(create_app(self.db, settings))  # API latencies
            self.api = ApiServer(app, config.http.host, config.http.port)
        self.ready = threading.Event()
        self.notifier = SystemdNotifier()

    def _status(self, kiosk_id: str, status: KioskStatus) -> None:
        record_status(self.db, kiosk_id, status, now=utc_now())

    def _flag_loop(self) -> None:
        next_poll = 0.0
        while not self.stop_event.is_set():
            self.heartbeats.beat("flags")
            self._flags_changed.wait(1.0)  # an operator's flag goes out at once; the CLI's within a second
            self._flags_changed.clear()
            if self.stop_event.is_set():
                break
            try:
                if self.registry is not None and self.config.registry is not None:
                    now = utc_now().timestamp()
                    if now >= next_poll:
                        sync_from_registry(self.db, self.registry, now=utc_now())
                        next_poll = now + self.config.registry.poll_flags_s
                self.publisher.publish_pending()
                self.publisher.publish_documents()
                self._watch_rotation()
            except Exception:  # the registry or the database is down: keep serving, try again
                log.exception("flag loop")

    def _watch_rotation(self) -> None:
        """`hub key rotate` writes an announcement beside the key, from another process: pick it up."""
        path = announcement_path(self.config.signing_key)
        stamp = path.stat().st_mtime_ns if path.exists() else None
        if stamp != self._rotation_stamp:
            self._rotation_stamp = stamp
            self.publisher.set_announcement(load_announcement(self.config.signing_key))

    def run(self) -> None:
        for worker in self.workers:
            worker.start()
        self.publisher.start()
        self._threads.append(threading.Thread(target=self._flag_loop, name="flags", daemon=True))
        if self.registry is not None:
            r = self.config.registry
            assert r is not None
            settings = ForwarderConfig(batch_size=r.batch_size, max_backoff_s=r.max_backoff_s)
            forwarder = Forwarder(self.db, self.registry, settings)
            self._threads.append(
                threading.Thread(
                    target=forwarder.run,
                    args=(self.stop_event, utc_now, lambda: self.heartbeats.beat("forwarder")),
                    name="forwarder",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()
        if self.api is not None:
            self.api.start()
            log.info("operators' API and dashboard on %s", self.api.url)
        self.metrics_server.start()
        log.info("hub serving (%d ingest workers)", len(self.workers))
        self.ready.set()
        self.notifier.ready("serving")
        self._supervise()
        self.notifier.stopping()
        self._flags_changed.set()
        if self.api is not None:
            self.api.stop()
        self.metrics_server.stop()
        for worker in self.workers:
            worker.stop()
        self.publisher.stop()
        for thread in self._threads:
            thread.join(10)
        self.db.dispose()
        log.info("hub stopped")

    def problems(self, period_s: float) -> list[str]:
        """Why the watchdog must not be pinged now; empty while the hub works.

        Every loop (each ingest worker's store loop, the flag loop, the forwarder) must have run within
        `period_s` (a heartbeat, not traffic: an idle hub or a registry outage is not a reason), no
        thread may have ended (paho's included), and the database must answer."""
        extra = [f"{t.name} has ended" for t in self._threads if not t.is_alive()]
        for worker in self.workers:
            extra += worker.problems()
        extra += self.publisher.problems()
        try:
            with self.db.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            extra.append(f"database: {type(exc).__name__}")
        return watchdog_ok(self.heartbeats, period_s, lambda: extra)

    def healthy(self, period_s: float = 30.0) -> bool:
        """What the systemd watchdog ping vouches for (see `problems`)."""
        return not self.problems(period_s)

    def _supervise(self) -> None:
        """Until stopped: ping the watchdog while healthy (an unhealthy hub is restarted by systemd)."""
        interval = watchdog_interval_s()
        reported: list[str] = []
        while not self.stop_event.wait(interval or 3600):
            if interval is None:
                continue
            problems = self.problems(2 * interval)  # the whole WatchdogSec (the ping comes every half)
            if not problems:
                self.notifier.watchdog()
            elif problems != reported:
                log.error("hub unhealthy, withholding the watchdog ping: %s", "; ".join(problems))
            reported = problems

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
