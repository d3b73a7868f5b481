"""The kiosk service: the composition root of one process wiring camera -> decode -> verify -> record ->
indicate -> publish, its run loop and its shutdown.

The parts it wires do the work: kiosk/pipeline.py the scans, kiosk/officer_desk.py what an officer does,
kiosk/hubdocs.py the trust list and rules the hub pushes, kiosk/flagsync.py the flags.

Start-up validates everything once (config, trust material, flags, hub key) and fails loudly if
something is wrong; after that nothing is fatal: a lost camera is reopened, a missing network is
waited out, a full disk is reported. systemd learns we are ready (READY=1) only once the camera
thread, the store and the link are up, and gets a watchdog ping from the main loop only while
every loop (capture, scan, link) has run within the watchdog period, so a hung or dead thread is
restarted (common/liveness.py); an offline kiosk, or one whose camera is gone, keeps its loops
running and is not. SIGTERM stops the loop; the link says "offline", and every passage already
recorded stays in the store for the next start.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gpiozero.pins import Factory

from common.flagkey import DEFAULT_KEY, read_flag_key
from common.healthrules import RuleSet
from common.liveness import Heartbeats, watchdog_ok
from common.metrics import MetricsServer
from common.sdnotify import SystemdNotifier, watchdog_interval_s
from common.valuesets import load_value_sets
from kiosk.camera import LatestFrameCapture
from kiosk.camera.base import FrameSource
from kiosk.camera.config import open_source
from kiosk.clock import ClockReading, TimeFloor, WallClock
from kiosk.config import KioskConfig
from kiosk.decode import FrameScanner
from kiosk.display import Indicator
from kiosk.display.buttons import OfficerButtons
from kiosk.doctor import live_checks, summary
from kiosk.flagsync import FlagSync
from kiosk.hubdocs import HubDocuments
from kiosk.metrics import KioskMetrics
from kiosk.mqtt.link import KioskLink
from kiosk.officer_desk import OfficerDesk
from kiosk.pipeline import Decision, ScanPipeline, run_until_stopped
from kiosk.record import passage_fields
from kiosk.screen.server import ScreenServer
from kiosk.screen.state import ScreenState
from kiosk.store import KioskStore
from kiosk.verify.flags import FlagStore, load_flag_file
from kiosk.verify.kiosk_trust import KioskTrust
from kiosk.verify.verdict import Verdict
from kiosk.verify.verifier import Verifier
from wire.envelope import Signed, load_public_key
from wire.events import parse_time

log = logging.getLogger(__name__)

TIME_FLOOR_FILE = "time-floor.json"


class GuardedVerifier:
    """The verifier behind a lock, so the link thread can apply flag and trust updates between
    two verifications and never in the middle of one."""

    def __init__(self, verifier: Verifier, lock: threading.Lock | None = None) -> None:
        self.verifier = verifier
        self.lock = lock if lock is not None else threading.Lock()

    def verify(
        self,
        raw: bytes,
        now: datetime,
        clock_trusted: bool = True,
        *,
        floor: datetime | None = None,
        hub_now: datetime | None = None,
    ) -> Verdict:
        with self.lock:
            return self.verifier.verify(raw, now, clock_trusted, floor=floor, hub_now=hub_now)


class KioskService:
    def __init__(
        self,
        config: KioskConfig,
        *,
        source: FrameSource | None = None,
        pin_factory: Factory | None = None,
        notifier: SystemdNotifier | None = None,
        on_decision: Callable[[Decision], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        time_source: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._on_decision = on_decision
        self._camera_events: dict[str, int] = {}
        self.notifier = notifier or SystemdNotifier()
        state_dir = Path(config.kiosk.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        key = read_flag_key(config.verify.flag_key_file) if config.verify.flag_key_file else DEFAULT_KEY
        self.store = KioskStore(
            state_dir / config.store.filename,
            retention=timedelta(days=config.store.retention_days),
            size_cap_bytes=int(config.store.size_cap_mb * (1 << 20)),
            memory_spill_max=config.store.memory_spill_max,
            subject_key=key,
        )
        flags = load_flag_file(config.verify.flags_file) if config.verify.flags_file else FlagStore(key)
        if flags.key != key and config.verify.flag_key_file is not None:
            raise ValueError(
                f"{config.verify.flags_file}: hashed with another id-hash key than flag_key_file"
            )
        self.flags = flags
        verify_lock = threading.Lock()
        # The one owner of flag state: the stored list (or, on a first start, the provisioned file).
        self.flag_sync = FlagSync(self.store, flags, verify_lock).load()
        value_sets = load_value_sets(config.verify.value_sets) if config.verify.value_sets else {}
        rules = (
            RuleSet.from_paths(config.verify.rules, config.verify.value_sets) if config.verify.rules else None
        )
        self.trust = KioskTrust(config.verify.trust)
        self.verifier = GuardedVerifier(Verifier(self.trust.store, flags, config.policy, rules), verify_lock)
        self.hub_documents = HubDocuments(
            self.store, self.trust, self.verifier.verifier, verify_lock, value_sets
        )
        self.hub_documents.replay()
        self.scanner = FrameScanner(config.decode)
        self.indicator = Indicator(config.indicator, pin_factory=pin_factory)
        self.time_floor = TimeFloor(state_dir / TIME_FLOOR_FILE)
        self.clock = WallClock(
            assume_trusted=config.kiosk.assume_clock_trusted,
            source=time_source,
            floor=self.time_floor,
            tolerance_s=config.policy.clock_skew_s,
        )
        self.heartbeats = Heartbeats()
        self.capture = LatestFrameCapture(
            source or open_source(config.camera),
            on_event=self._camera_event,
            heartbeat=lambda: self.heartbeats.beat("capture"),
        )
        # Metrics (kiosk/metrics.py): read from these objects at scrape time; the scanner is timed.
        self.metrics = KioskMetrics(self)
        self.metrics_server = MetricsServer(self.metrics.registry, config.metrics, "kiosk")
        self.pipeline = ScanPipeline(
            self.metrics.timed(self.scanner), self.verifier, self.indicator, self.clock, recorder=self._record
        )
        self.link: KioskLink | None = None
        if config.mqtt is not None:
            hub_keys = (
                [load_public_key(config.verify.hub_public_key.read_bytes())]
                if config.verify.hub_public_key
                else []
            )
            self.link = KioskLink(
                config.mqtt,
                config.kiosk.kiosk_id,
                self.store,
                hub_keys=hub_keys,
                on_update=self.hub_documents.apply,
                on_signed=self._hub_signed,
                status_extra=self.status_fields,
                heartbeats=self.heartbeats,
                flags=self.flag_sync,
            )
            if not hub_keys:
                log.warning("no verify.hub_public_key: every flag, trust and command update will be refused")
        # The screen's hold time is also the officer's window to confirm or override (kiosk/officer.py).
        self.screen_state = ScreenState(
            config.indicator.hold_s, assisted=config.kiosk.mode == "assisted", clock=monotonic
        )
        self.officer = OfficerDesk(
            kiosk_id=config.kiosk.kiosk_id,
            checkpoint_id=config.kiosk.checkpoint_id,
            policy=config.policy,
            flags=flags,
            verify_lock=verify_lock,
            clock=self.clock,
            store=self.store,
            indicator=self.indicator,
            screen_state=self.screen_state,
            recorded=self._officer_recorded,
            nudge=self._nudge_link,
            officer_on_duty=config.buttons.officer_id,
        )
        self.screen: ScreenServer | None = None
        if config.screen.enabled:
            self.screen = ScreenServer(
                self.screen_state, config.screen.host, config.screen.port,
                on_officer=self.officer.action, on_manual=self.officer.manual,
                allowed_hosts=config.screen.allowed_hosts,
            )  # fmt: skip
        self.buttons: OfficerButtons | None = None
        if config.kiosk.mode == "assisted":
            self.buttons = OfficerButtons(config.buttons, self.officer.button, pin_factory=pin_factory)
        self.stop_event = threading.Event()
        self._started = time.monotonic()

    # -- wiring ---------------------------------------------------------------------------------

    def _record(self, decision: Decision) -> None:
        self.metrics.decided(decision)
        fields = passage_fields(
            decision, self.config.kiosk.kiosk_id, self.config.kiosk.checkpoint_id, self.config.kiosk.mode,
            self.flags.version,
        )  # fmt: skip
        event = self.store.record(fields)
        self._recorded_at(decision.clock)
        event_id = event.event_id if event is not None else fields["event_id"]
        self.officer.scanned(decision.verdict, event_id, decision.code.raw)
        self.screen_state.show(decision.verdict, event_id)
        self._nudge_link()

    def _nudge_link(self) -> None:
        """A passage was recorded: the link publishes it now rather than at its next poll."""
        if self.link is not None:
            self.link.nudge()

    def _officer_recorded(self, verdict: Verdict, mode: str, reading: ClockReading) -> None:
        """An officer's passage is stored (kiosk/officer_desk.py), before its light shows: it raises the
        time floor like a scan's; the verdict and mode are there for whatever counts passages."""
        self.metrics.verdict(verdict, mode)
        self._recorded_at(reading)

    def _recorded_at(self, reading: ClockReading) -> None:
        """A passage recorded with a trusted clock raises the time floor (kiosk/clock.py)."""
        if reading.trusted:
            self.time_floor.saw_trusted_time(reading.now)

    def _hub_signed(self, message: Signed) -> None:
        """Any verified hub message: its signed `issued_at` is a time the hub's clock had passed."""
        signed_at = parse_time(message.issued_at)
        if signed_at is not None:
            self.time_floor.saw_hub_time(signed_at)

    def _camera_event(self, kind: str, detail: str) -> None:
        self._camera_events[kind] = self._camera_events.get(kind, 0) + 1

    def status_fields(self) -> dict[str, Any]:
        uptime = max(1e-6, time.monotonic() - self._started)
        reading = self.clock.read()
        return {
            "checkpoint_id": self.config.kiosk.checkpoint_id,
            "mode": self.config.kiosk.mode,
            "camera": self.capture.state.value,
            "camera_failures": self.capture.stats.failures,
            "camera_events": dict(self._camera_events),
            "frames": self.scanner.stats.frames,
            "decode_rate": round(self.scanner.stats.decoded_frames / uptime, 2),
            "passages": self.pipeline.stats.decisions,
            "errors": self.pipeline.stats.errors,
            "clock": {
                "trusted": reading.trusted,
                "reason": reading.reason,
                "floor": reading.floor.isoformat(timespec="seconds") if reading.floor else None,
            },
            "flags_loaded": len(self.flags),
            "rules_loaded": len(self.verifier.verifier.rules),
            "rules_version": self.verifier.verifier.rules.version,
            "trust": self.trust.status(),  # keys per purpose and skipped entries (`kiosk trust` names them)
            "checks": summary(live_checks(self)),  # the self-checks of `kiosk doctor`, judged live
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM/SIGINT, `stop_event`, or the end of a finite (replay) source."""
        watchdog = watchdog_interval_s()
        next_ping = 0.0

        reported: list[str] = []

        def idle() -> None:
            nonlocal next_ping, reported
            self.heartbeats.beat("scan")
            now = time.monotonic()
            if watchdog is not None and now >= next_ping:
                next_ping = now + watchdog
                problems = watchdog_ok(self.heartbeats, 2 * watchdog)  # the whole WatchdogSec
                if not problems:
                    self.notifier.watchdog()
                elif problems != reported:
                    log.error("withholding the watchdog ping: %s", "; ".join(problems))
                reported = problems
            self.store.retry_held()
            self.time_floor.persist()

        self.capture.start()
        self.metrics_server.start()
        if self.link is not None:
            self.link.start()
        if self.screen is not None:
            self.screen.start()
            log.info("screen at %s", self.screen.url)
        self.notifier.ready(f"scanning at {self.config.kiosk.checkpoint_id}")
        log.info("kiosk %s ready", self.config.kiosk.kiosk_id)
        try:
            run_until_stopped(
                self.capture, self.pipeline, self.stop_event, on_decision=self._on_decision, on_idle=idle
            )
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.notifier.stopping()
        self.metrics_server.stop()
        if self.screen is not None:
            self.screen.stop()
        self.capture.stop()
        self.scanner.close()  # the learned detector's worker thread
        if self.link is not None:
            self.link.stop()
        if self.buttons is not None:
            self.buttons.close()
        self.indicator.close()
        self.time_floor.persist(force=True)
        self.store.close()

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            log.info("signal %d: stopping", signum)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
