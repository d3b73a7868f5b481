"""The hub's Prometheus metrics: ingest per partition, the registry forwarder, dead letters, the API.

Served on a listener of its own (common/metrics.py, `[metrics]`, loopback:9102 by default), not as a
`/metrics` route of the operators' API, because:

- the API is the operators' door: it is put behind a TLS proxy for other machines and every route but
  login and health needs a session; Prometheus has no session, and an unauthenticated route there
  would travel wherever the API does. A separate loopback listener keeps the two audiences apart;
- metrics stay up with `[http] enabled = false`, and a scrape never waits on the API's event loop;
- the API's OpenAPI document (and its fuzzing from that document) stays what operators use.

What is counted in the hot path: one histogram observation per API request (an ASGI wrapper, labelled
by route *template*, never the path with its ids). Everything else is read at scrape time by
`HubCollector`: the ingest workers' own counters and queue depths, and a few indexed counts from the
database (pending and dead outbox rows, dead letters, rejects). No label carries a kiosk id, a person
id or an id hash; partitions are numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from hub.db import from_db_time, to_db_time
from hub.schema import dead_letter, event_rejects, flag_dead_letters, flag_log, kiosks, registry_outbox

if TYPE_CHECKING:
    from hub.service import HubService

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class HubMetrics:
    """One hub's registry (one per HubService: tests run several in one process)."""

    def __init__(self, service: HubService) -> None:
        self.registry = CollectorRegistry()
        self.api_seconds = Histogram(
            "hub_api_request_seconds",
            "Operators' API requests by method, route template and status class",
            ["method", "route", "status"],
            buckets=API_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(HubCollector(service))
        ProcessCollector(registry=self.registry)

    def instrument(self, app: ASGIApp) -> ASGIApp:
        return ApiTimer(app, self.api_seconds)


class ApiTimer:
    """ASGI wrapper timing each HTTP request. The route label is the matched route's template (Starlette
    puts the route in the scope), "unmatched" otherwise: a bounded set, whatever paths are asked for."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self._histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}  # what the client gets if the app raises before answering
        started = time.perf_counter()
        observed = False

        def observe() -> None:
            nonlocal observed
            if observed:
                return
            observed = True
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "OTHER")
            self._histogram.labels(
                method if method in METHODS else "OTHER", route, f"{status['code'] // 100}xx"
            ).observe(time.perf_counter() - started)

        async def send_and_note(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status["code"] = int(message.get("status", 500))
            elif message.get("type") == "http.response.body" and not message.get("more_body", False):
                # Counted before the last byte leaves: a client that has its answer finds it counted
                # (observed after the send, a scrape right after the answer could miss it).
                observe()
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            observe()  # an app that raised, or never finished its body


def _family(kind: type[Any], name: str, doc: str, per_partition: list[tuple[str, float]]) -> Metric:
    family = kind(name, doc, labels=["partition"])
    for partition, value in per_partition:
        family.add_metric([partition], value)
    return family


class HubCollector(Collector):
    """Reads the hub at scrape time. With the database down, its figures are left out and
    `hub_database_up` says 0; the in-process figures still answer."""

    def __init__(self, service: HubService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        for section in (self._ingest, self._publisher, self._database):
            try:
                yield from list(section())
            except Exception:  # a scrape must never take anything down
                log.exception("metrics: %s failed", section.__name__)

    def _ingest(self) -> Iterator[Metric]:
        workers = [(str(i), w) for i, w in enumerate(self._service.workers)]
        g, c = GaugeMetricFamily, CounterMetricFamily
        yield _family(g, "hub_ingest_connected", "1 while the worker is connected to the broker",
                      [(p, float(w.connected.is_set())) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_messages", "Event messages stored and acked",
                      [(p, w.stored_messages) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_events_acked", "Events acked to kiosks (stored now or before)",
                      [(p, w.acked_events) for p, w in workers])  # fmt: skip
        yield _family(g, "hub_ingest_queued_messages", "Messages received, waiting for the next commit (lag)",
                      [(p, w.queued()) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_gap_waits", "Batches held back for a missing predecessor",
                      [(p, w.gap_waits) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_dead_lettered", "Valid events the database refused (event_rejects)",
                      [(p, w.dead_lettered) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_refused_messages", "Messages that were not a batch of events",
                      [(p, w.refused_messages) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_errors", "Store failures and refused messages",
                      [(p, w.errors) for p, w in workers])  # fmt: skip
        yield _family(c, "hub_ingest_callback_errors", "MQTT callbacks that raised (caught)",
                      [(p, sum(w.callback_errors.values())) for p, w in workers])  # fmt: skip

    def _publisher(self) -> Iterator[Metric]:
        pub = self._service.publisher
        yield CounterMetricFamily(
            "hub_flag_publisher_dead_lettered", "Flag changes set aside", value=pub.dead_lettered
        )

    def _database(self) -> Iterator[Metric]:
        o = registry_outbox
        try:
            with self._service.db.begin() as conn:
                counts: dict[str, int] = dict(
                    conn.execute(
                        sa.select(o.c.state, sa.func.count())
                        .where(o.c.state.in_(["pending", "dead"]))
                        .group_by(o.c.state)
                    ).all()
                )
                oldest = conn.execute(sa.select(sa.func.min(o.c.id)).where(o.c.state == "pending")).scalar()
                oldest_at = None
                if oldest is not None:
                    oldest_at = conn.execute(
                        sa.select(o.c.next_attempt_at, o.c.attempts).where(o.c.id == oldest)
                    ).first()
                dead = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(dead_letter)
                    .where(dead_letter.c.replayed_at.is_(None))
                ).scalar()
                rejects = conn.execute(sa.select(sa.func.count()).select_from(event_rejects)).scalar()
                flag_dead = conn.execute(sa.select(sa.func.count()).select_from(flag_dead_letters)).scalar()
                head = conn.execute(sa.select(sa.func.max(flag_log.c.version))).scalar()
                known = conn.execute(sa.select(sa.func.count()).select_from(kiosks)).scalar()
                cutoff = to_db_time(
                    dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self._service.config.stale_after_s)
                )
                fresh = conn.execute(
                    sa.select(sa.func.count()).select_from(kiosks).where(kiosks.c.last_seen >= cutoff)
                ).scalar()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: database unavailable: %s", type(exc).__name__)
            yield GaugeMetricFamily("hub_database_up", "1 while the database answers", value=0.0)
            return
        yield GaugeMetricFamily("hub_database_up", "1 while the database answers", value=1.0)
        yield GaugeMetricFamily(
            "hub_forwarder_backlog",
            "Events waiting to be forwarded to the registry",
            value=counts.get("pending", 0),
        )
        yield GaugeMetricFamily(
            "hub_forwarder_dead_events", "Events the registry refused for good", value=counts.get("dead", 0)
        )
        attempts = float(oldest_at.attempts) if oldest_at is not None else 0.0
        yield GaugeMetricFamily(
            "hub_forwarder_head_attempts",
            "Send attempts of the oldest pending batch (0: none pending)",
            value=attempts,
        )
        if oldest_at is not None:
            due = from_db_time(oldest_at.next_attempt_at)
            if due is not None:
                yield GaugeMetricFamily(
                    "hub_forwarder_head_due_timestamp_seconds", "When the oldest pending batch is tried next",
                    value=due.timestamp(),
                )  # fmt: skip
        letters = GaugeMetricFamily("hub_dead_letters", "Dead letters awaiting an operator", labels=["kind"])
        letters.add_metric(["registry"], float(dead or 0))
        letters.add_metric(["event_rejects"], float(rejects or 0))
        letters.add_metric(["flags"], float(flag_dead or 0))
        yield letters
        yield GaugeMetricFamily(
            "hub_flag_log_version", "Head version of the flag log", value=float(head or 0)
        )
        yield GaugeMetricFamily("hub_kiosks_known", "Kiosks the hub has heard of", value=float(known or 0))
        yield GaugeMetricFamily(
            "hub_kiosks_fresh", "Kiosks heard from within stale_after_s", value=float(fresh or 0)
        )
