"""`python -m demo`: the whole system on one machine, as it runs for real, with a live summary.

Mosquitto (private, on a free port), the hub (`HubService`: ingest, flags, registry forwarding, the
operators' API and dashboard on SQLite), the registry test server, and three kiosks, each a real
`kiosk run` process replaying its own generated camera stream on gpiozero mock pins. When every kiosk has
seen Lê Văn Cường pass, an operator flags him F0 through the hub's API; the demo then shows how long the
flag took to turn him red at each kiosk.

`--scripted` stops by itself once he is red everywhere and every passage has reached the hub and the
registry, and exits 0 (1 if something did not happen in time). Without it the demo runs until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from demo.mosquitto import MosquittoBroker, free_port
from demo.world import FLAGGED_ID, FLAGGED_NAME, KIOSKS, OPERATOR, REGISTRY_TOKEN, DemoFiles, write_world
from hub.api_client import ApiClient
from hub.config import load_hub_config
from hub.fleet import fleet_view
from hub.operators import set_operator
from hub.schema import events
from hub.service import HubService
from testkit.registry_server import RegistryServer


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class KioskProcess:
    kiosk_id: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk.cli", "run", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops each kiosk with SIGTERM
            )

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def scrape_metrics(url: str) -> dict[str, float]:
    """Sample name -> sum over its labels; empty when the endpoint does not answer (the demo goes on)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=5) as reply:  # the demo's own loopback URL
            text = reply.read().decode()
    except OSError:
        return {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


@dataclass
class Demo:
    root: Path
    out: Any = print
    broker: MosquittoBroker = field(init=False)
    registry: RegistryServer = field(init=False)
    hub: HubService = field(init=False)
    files: DemoFiles = field(init=False)
    kiosks: list[KioskProcess] = field(default_factory=list)
    flagged_at: dt.datetime | None = None
    red_after_s: dict[str, float] = field(default_factory=dict)
    _hub_thread: threading.Thread | None = None

    def start(self, hub_http_port: int) -> None:
        handler = logging.FileHandler(self.root / "hub.log")  # the kiosks log to <kiosk>.log beside it
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("hub").addHandler(handler)
        logging.getLogger("hub").setLevel(logging.INFO)
        self.broker = MosquittoBroker(workdir=self.root / "mosquitto")
        self.broker.start()
        self.registry = RegistryServer(token=REGISTRY_TOKEN)
        self.registry.start()
        self.files = write_world(self.root, self.broker.port, self.registry.url, hub_http_port, utc_now())
        self.hub = HubService(load_hub_config(self.files.hub_config))
        set_operator(self.hub.db, OPERATOR[0], "admin", OPERATOR[1], actor="demo", now=utc_now())
        self._hub_thread = threading.Thread(target=self.hub.run, name="hub", daemon=True)
        self._hub_thread.start()
        if not self.hub.ready.wait(30):
            raise RuntimeError("the hub did not start")
        for plan in KIOSKS:
            k = KioskProcess(
                plan.kiosk_id, self.files.kiosk_configs[plan.kiosk_id], self.root / f"{plan.kiosk_id}.log"
            )
            k.start()
            self.kiosks.append(k)

    def addresses(self) -> list[str]:
        assert self.hub.api is not None
        lines = [f"dashboard  {self.hub.api.url}/   (login {OPERATOR[0]} / {OPERATOR[1]})"]
        for plan in KIOSKS:
            port = self.files.screens[plan.kiosk_id]
            lines.append(
                f"screen     http://127.0.0.1:{port}/   {plan.kiosk_id} ({plan.checkpoint_name}, {plan.mode})"
            )
        lines.append(
            f"metrics    hub {self.hub.metrics_server.url}  kiosk ports {sorted(self.files.metrics.values())}"
        )
        lines.append(f"broker     mqtt://127.0.0.1:{self.broker.port}   registry {self.registry.url}")
        lines.append(f"files      {self.root}")
        return lines

    def metrics_lines(self) -> list[str]:
        """What each kiosk's and the hub's Prometheus endpoint says now (scraped over HTTP)."""
        lines = []
        for kiosk_id, port in sorted(self.files.metrics.items()):
            m = scrape_metrics(f"http://127.0.0.1:{port}/metrics")
            lines.append(
                f"metrics    {kiosk_id}: {m.get('kiosk_verdicts_total', 0):.0f} verdicts,"
                f" {m.get('kiosk_frames_decoded_total', 0):.0f} frames decoded,"
                f" outbox backlog {m.get('kiosk_outbox_backlog', 0):.0f}"
            )
        m = scrape_metrics(str(self.hub.metrics_server.url))
        lines.append(
            f"metrics    hub: {m.get('hub_ingest_events_acked_total', 0):.0f} events acked,"
            f" forwarder backlog {m.get('hub_forwarder_backlog', 0):.0f}"
        )
        return lines

    # -- what the hub knows -----------------------------------------------------------------------

    def verdicts(self) -> dict[str, Counter[str]]:
        q = sa.select(events.c.kiosk_id, events.c.verdict, sa.func.count()).group_by(
            events.c.kiosk_id, events.c.verdict
        )
        out: dict[str, Counter[str]] = {k.kiosk_id: Counter() for k in self.kiosks}
        with self.hub.db.begin() as conn:
            for kiosk_id, verdict, n in conn.execute(q):
                out.setdefault(kiosk_id, Counter())[verdict] = n
        return out

    def flagged_person_seen(self, since: dt.datetime | None = None, verdict: str | None = None) -> set[str]:
        q = sa.select(events.c.kiosk_id).where(events.c.subject_id == FLAGGED_ID).distinct()
        if since is not None:
            q = q.where(events.c.received_at >= since.replace(tzinfo=None))
        if verdict is not None:
            q = q.where(events.c.verdict == verdict)
        with self.hub.db.begin() as conn:
            return set(conn.execute(q).scalars())

    def summary_line(self, started: float) -> str:
        fleet = {k["kiosk_id"]: k for k in fleet_view(self.hub.db, now=utc_now(), stale_after_s=30)}
        parts = []
        for kiosk_id, c in self.verdicts().items():
            state = fleet.get(kiosk_id, {}).get("state", "…")
            backlog = fleet.get(kiosk_id, {}).get("backlog")
            parts.append(
                f"{kiosk_id} {state} ✓{c['PASS']} ✗{c['DENY']} ?{c['REVIEW']}"
                + (f" backlog {backlog}" if backlog else "")
            )
        return (
            f"[{time.monotonic() - started:5.0f}s] "
            + " | ".join(parts)
            + f" | registry {len(self.registry.state.arrivals)}"
        )

    # -- the operator's action ----------------------------------------------------------------------

    def flag_person(self) -> int:
        """Log in to the hub's API as an operator would and flag the person F0."""
        assert self.hub.api is not None
        operator = ApiClient(self.hub.api.url).login(*OPERATOR)
        self.flagged_at = utc_now()
        return operator.add_flag(FLAGGED_ID, "F0", note="demo: positive test reported by the registry")

    def note_red(self) -> None:
        assert self.flagged_at is not None
        for kiosk_id in self.flagged_person_seen(since=self.flagged_at, verdict="DENY") - set(
            self.red_after_s
        ):
            self.red_after_s[kiosk_id] = (utc_now() - self.flagged_at).total_seconds()
            self.out(
                f"  {FLAGGED_NAME} is RED at {kiosk_id} ({self.red_after_s[kiosk_id]:.1f}s after the flag)"
            )

    def settled(self) -> bool:
        """Every kiosk has sent everything it recorded, the hub stored it, the registry received it."""
        fleet = fleet_view(self.hub.db, now=utc_now(), stale_after_s=30)
        if len(fleet) < len(self.kiosks) or any(k["backlog"] != 0 for k in fleet):
            return False
        with self.hub.db.begin() as conn:
            stored = int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0)
        return stored > 0 and len(set(self.registry.state.arrivals)) == stored

    def stop(self) -> list[int | None]:
        """Stop whatever was started, kiosks first (their last status reaches the hub), broker last."""
        codes = [k.stop() for k in self.kiosks]
        if self._hub_thread is not None:
            self.hub.stop_event.set()
            self._hub_thread.join(30)
        for part in ("registry", "broker"):
            started = getattr(self, part, None)
            if started is not None:
                started.stop()
        return codes


def run(root: Path, *, scripted: bool, timeout_s: float, hub_http_port: int, out: Any = print) -> int:
    demo = Demo(root, out)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    code = 1
    try:
        demo.start(hub_http_port)
        out("QR checkpoint demo: Mosquitto, hub, registry and three kiosks are up.")
        for line in demo.addresses():
            out("  " + line)
        out(f"Waiting for every kiosk to see {FLAGGED_NAME} ({FLAGGED_ID}) once, then the hub flags him F0.")
        next_summary = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_summary:
                out(demo.summary_line(started))
                next_summary = now + (2.0 if scripted else 5.0)
            if demo.flagged_at is None and demo.flagged_person_seen() >= {k.kiosk_id for k in demo.kiosks}:
                version = demo.flag_person()
                out(f"Operator flags {FLAGGED_NAME} F0 at the hub (flag-list version {version}).")
            if demo.flagged_at is not None and len(demo.red_after_s) < len(demo.kiosks):
                demo.note_red()
            if scripted and len(demo.red_after_s) == len(demo.kiosks) and demo.settled():
                out(demo.summary_line(started))
                for line in demo.metrics_lines():
                    out(line)
                out("Flag reached every kiosk; every passage is at the hub and the registry.")
                code = 0
                break
            if scripted and now - started > timeout_s:
                missing = {k.kiosk_id for k in demo.kiosks} - set(demo.red_after_s)
                out(f"demo: timed out after {timeout_s:.0f}s (not red yet at: {sorted(missing) or 'none'})")
                break
            stop.wait(0.5)
        else:
            code = 0  # Ctrl-C or SIGTERM in interactive mode: a normal end
    except KeyboardInterrupt:
        code = 0
    finally:
        out("Stopping kiosks, hub, registry and broker…")
        codes = demo.stop()
        signal.signal(signal.SIGTERM, previous)
        bad = [c for c in codes if c not in (0, None)]
        if bad:
            out(f"demo: kiosk exit codes {codes}; see the logs in {root}")
            code = code or 1
    return code


@click.command()
@click.option("--scripted", is_flag=True, help="stop by itself once the flag has reached every kiosk; exit 0")
@click.option("--timeout", "timeout_s", default=240.0, show_default=True, help="--scripted: give up after")
@click.option("--dashboard-port", default=0, show_default=True, help="0: any free port")
@click.option("--keep", is_flag=True, help="keep the working directory (logs, databases) afterwards")
def main(scripted: bool, timeout_s: float, dashboard_port: int, keep: bool) -> None:
    """Run the whole system on this machine; Ctrl-C stops it cleanly."""
    root = Path(tempfile.mkdtemp(prefix="qr-checkpoint-demo-"))
    try:
        code = run(root, scripted=scripted, timeout_s=timeout_s, hub_http_port=dashboard_port or free_port())
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    raise SystemExit(code)
