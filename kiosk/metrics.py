"""The kiosk's Prometheus metrics: what a fleet dashboard needs to see inside one kiosk.

Two kinds of figures, chosen so that the hot path gains no more than two histogram observations per
frame and one counter per passage:

- instruments fed as things happen: decode time per decoded frame (`TimedScanner` wraps the scanner,
  so kiosk/pipeline.py is unchanged), the latency from capture to decision, and verdicts by outcome,
  payload kind, first reason and source;
- everything else is read from the live objects at scrape time by `KioskCollector` (counters the
  stages already keep, the outbox backlog, the link, document versions, the clock, the disk, the
  self-checks of kiosk/doctor/), so no counter is threaded through the code for it.

No label ever carries personal data or an id hash: reasons are mapped onto the fixed table of
kiosk/verify/messages.py (anything else is "other"), and the only ids are the kiosk's and checkpoint's
own, once, in `kiosk_info`.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from common.version import __version__
from kiosk.verify.messages import MESSAGES
from kiosk.verify.verdict import Verdict

if TYPE_CHECKING:
    from kiosk.pipeline import Decision, ScannedCode, Scanner
    from kiosk.service import KioskService

log = logging.getLogger(__name__)

# Every reason code a verdict may carry; the label set of `kiosk_verdicts_total` stays this small.
KNOWN_REASONS = frozenset(MESSAGES) | {"internal_error"}
DECODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
CHECK_LEVELS = {"OK": 0, "WARN": 1, "FAIL": 2}


def reason_label(verdict: Verdict) -> str:
    """The verdict's first (deciding) reason, or "other" for a code outside the table, "none" if empty."""
    if not verdict.reasons:
        return "none"
    first = verdict.reasons[0]
    return first if first in KNOWN_REASONS else "other"


class TimedScanner:
    """The scanner, timed: how long each frame that reached the decoder took (gate-skipped frames, a few
    microseconds each, are left out so the histogram shows decode cost)."""

    def __init__(self, scanner: Scanner, histogram: Histogram, decoded: Callable[[], int]) -> None:
        self._scanner = scanner
        self._histogram = histogram
        self._decoded = decoded  # the scanner's own count of frames that reached the decoder

    def scan(self, gray: np.ndarray, now: float) -> Sequence[ScannedCode]:
        before = self._decoded()
        started = time.perf_counter()
        codes = self._scanner.scan(gray, now)
        if self._decoded() != before:
            self._histogram.observe(time.perf_counter() - started)
        return codes


class KioskMetrics:
    """One kiosk's registry, instruments and collector (one per KioskService: tests run several)."""

    def __init__(self, service: KioskService) -> None:
        self.registry = CollectorRegistry()
        self.decode_seconds = Histogram(
            "kiosk_decode_seconds",
            "Time the decoder spent on one frame that passed the motion gate",
            buckets=DECODE_BUCKETS,
            registry=self.registry,
        )
        self.decision_latency = Histogram(
            "kiosk_decision_latency_seconds",
            "From frame capture to the decision (decode, verify, record) for each passage",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "kiosk_verdicts",
            "Verdicts by outcome, payload kind, deciding reason and source (scan, officer, manual)",
            ["outcome", "kind", "reason", "source"],
            registry=self.registry,
        )
        self.registry.register(KioskCollector(service))
        ProcessCollector(registry=self.registry)  # memory, CPU, open files of the kiosk process

    def timed(self, scanner: Any) -> TimedScanner:
        return TimedScanner(scanner, self.decode_seconds, lambda: int(scanner.stats.decoded_frames))

    def decided(self, decision: Decision) -> None:
        """A scanned passage (called by the recorder, before the light shows)."""
        self.decision_latency.observe(max(0.0, decision.latency_s))
        self.verdict(decision.verdict, "scan")

    def verdict(self, verdict: Verdict, source: str) -> None:
        self.verdicts.labels(verdict.outcome.value, verdict.kind.value, reason_label(verdict), source).inc()


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    if labels is None:
        return GaugeMetricFamily(name, doc, value=value)
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _one_hot(name: str, doc: str, label: str, current: str, known: list[str]) -> GaugeMetricFamily:
    """A state as one series per known value, 1 for the current one (an enum, Prometheus style)."""
    family = GaugeMetricFamily(name, doc, labels=[label])
    for value in sorted({*known, current}):
        family.add_metric([value], 1.0 if value == current else 0.0)
    return family


def policy_digest(service: KioskService) -> str:
    """A short digest of the verdict policy in force: tells kiosks with different policies apart."""
    body = service.config.policy.model_dump_json().encode()
    return hashlib.sha256(body).hexdigest()[:12]


class KioskCollector(Collector):
    """Reads the service's live state at scrape time. One failing section is logged and left out;
    the rest of the scrape still answers."""

    def __init__(self, service: KioskService) -> None:
        self._service = service
        self._started = time.monotonic()
        self._sections: list[Callable[[], Iterator[Metric]]] = [
            self._identity,
            self._camera,
            self._decode,
            self._store,
            self._link,
            self._documents,
            self._clock,
            self._disk,
            self._checks,
        ]

    def collect(self) -> Iterator[Metric]:
        for section in self._sections:
            try:
                yield from list(section())
            except Exception:  # a scrape must never take anything down, nor be empty because of one part
                log.exception("metrics: %s failed", section.__name__)

    def _identity(self) -> Iterator[Metric]:
        k = self._service.config.kiosk
        info = {
            "kiosk_id": k.kiosk_id,
            "checkpoint_id": k.checkpoint_id,
            "mode": k.mode,
            "version": __version__,
        }
        yield _gauge("kiosk_info", "This kiosk: its ids, mode and software version", 1.0, info)
        yield _gauge(
            "kiosk_uptime_seconds", "Seconds since the service started", time.monotonic() - self._started
        )

    def _camera(self) -> Iterator[Metric]:
        capture = self._service.capture
        stats = capture.stats
        yield _gauge(
            "kiosk_camera_up", "1 while the camera delivers frames", float(capture.state == "running")
        )
        yield _counter("kiosk_camera_frames", "Frames captured", stats.frames)
        yield _counter(
            "kiosk_camera_dropped_frames", "Frames replaced by a newer one before use", stats.dropped
        )
        yield _counter("kiosk_camera_failures", "Times the camera was lost", stats.failures)
        yield _gauge(
            "kiosk_camera_configured_fps", "The configured frame rate", self._service.config.camera.fps
        )

    def _decode(self) -> Iterator[Metric]:
        stats = self._service.scanner.stats
        yield _counter("kiosk_frames_scanned", "Frames the scan loop looked at", stats.frames)
        yield _counter(
            "kiosk_frames_decoded",
            "Frames that passed the motion gate into the decoder",
            stats.decoded_frames,
        )
        yield _counter("kiosk_codes_read", "QR symbols read, repeats included", stats.codes)
        yield _counter("kiosk_codes_new", "QR symbols not suppressed by the dedupe window", stats.new_codes)
        yield _counter(
            "kiosk_pipeline_errors",
            "Verifications or records that raised",
            self._service.pipeline.stats.errors,
        )

    def _store(self) -> Iterator[Metric]:
        store = self._service.store
        yield _gauge(
            "kiosk_outbox_backlog", "Passages recorded but not yet acknowledged by the hub", store.backlog()
        )
        health = store.health
        yield _gauge("kiosk_store_ok", "1 while the store raises no alarm", float(health.ok))
        alarms = GaugeMetricFamily("kiosk_store_alarm", "Store alarms (1: raised)", labels=["alarm"])
        for alarm in ("disk_full", "read_only", "size_cap", "spill_overflow"):
            alarms.add_metric([alarm], float(alarm in health.alarms))
        yield alarms
        yield _gauge(
            "kiosk_store_held_in_memory",
            "Passages held in memory while the disk refuses",
            health.held_in_memory,
        )
        yield _counter("kiosk_store_lost", "Passages lost (memory spill overflow)", health.lost)

    def _link(self) -> Iterator[Metric]:
        link = self._service.link
        yield _gauge("kiosk_link_configured", "1 when a hub link is configured", float(link is not None))
        yield _gauge(
            "kiosk_link_connected", "1 while connected to the broker", float(bool(link and link.connected))
        )
        if link is None:
            return
        s = link.stats
        yield _counter("kiosk_link_connects", "Successful connections to the broker", s.connects)
        yield _counter("kiosk_link_events_sent", "Passages published (re-sends included)", s.events_sent)
        yield _counter("kiosk_link_events_acked", "Passages the hub acknowledged", s.events_acked)
        yield _counter("kiosk_link_resends", "Go-back-N restarts (ack timeout or reconnect)", s.resends)
        yield _counter("kiosk_link_updates_applied", "Signed hub updates applied", s.updates_applied)
        yield _counter(
            "kiosk_link_updates_rejected",
            "Hub updates refused (signature, version, content)",
            s.updates_rejected,
        )

    def _documents(self) -> Iterator[Metric]:
        svc = self._service
        versions = GaugeMetricFamily(
            "kiosk_document_version",
            "Version of the flag list, trust list and health rules in force",
            labels=["document"],
        )
        versions.add_metric(["flags"], svc.flags.version)
        versions.add_metric(["trust"], svc.trust.store.version)
        versions.add_metric(["rules"], svc.verifier.verifier.rules.version)
        yield versions
        yield _gauge(
            "kiosk_policy_info", "Digest of the verdict policy in force", 1.0, {"digest": policy_digest(svc)}
        )
        yield _gauge("kiosk_flags_loaded", "Flags held", len(svc.flags))
        yield _gauge("kiosk_rules_loaded", "Health rules held", len(svc.verifier.verifier.rules))
        trust = GaugeMetricFamily(
            "kiosk_trust_keys", "Trusted keys per purpose (and skipped entries)", labels=["purpose"]
        )
        for purpose, count in svc.trust.store.counts().items():
            trust.add_metric([purpose], count)
        yield trust
        state = svc.flag_sync.status_fields()["flags_state"]
        yield _one_hot(
            "kiosk_flags_state", "Flag sync state (1: current)", "state", state,
            ["verified", "behind", "resyncing", "unverified"],
        )  # fmt: skip

    def _clock(self) -> Iterator[Metric]:
        reading = self._service.clock.read()
        yield _gauge("kiosk_clock_trusted", "1 while the wall clock is trusted", float(reading.trusted))
        yield _one_hot(
            "kiosk_clock_state", "Why the clock is (not) trusted (1: current)", "reason", reading.reason,
            ["ntp_synchronized", "assumed", "before_software_epoch", "not_synchronized", "behind_floor"],
        )  # fmt: skip
        if reading.floor is not None:
            yield _gauge(
                "kiosk_clock_floor_timestamp_seconds",
                "The proven lower bound of the true time",
                reading.floor.timestamp(),
            )
        yield _gauge(
            "kiosk_clock_timestamp_seconds", "The time the kiosk decides with", reading.now.timestamp()
        )

    def _disk(self) -> Iterator[Metric]:
        usage = shutil.disk_usage(Path(self._service.config.kiosk.state_dir))
        yield _gauge("kiosk_disk_free_bytes", "Free bytes on the state directory's file system", usage.free)
        yield _gauge("kiosk_disk_size_bytes", "Size of the state directory's file system", usage.total)

    def _checks(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "kiosk_check_level", "Self-checks (kiosk/doctor/): 0 OK, 1 WARN, 2 FAIL", labels=["check"]
        )
        from kiosk.doctor import live_checks

        for result in live_checks(self._service):
            family.add_metric([result.name], CHECK_LEVELS[result.level])
        yield family
