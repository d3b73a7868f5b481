"""Hub benchmark: ingest throughput over PostgreSQL with 1 and N workers, and flag propagation.

Everything runs on one private Mosquitto and one private PostgreSQL (fsync ON, as a hub runs it), started
here on free ports, in one run:

1. relay baseline: a plain paho publisher to a plain paho subscriber, QoS 1, the same event batches
   (no storage, no acks): what the broker and paho alone can carry on this machine;
2. full path: K kiosks with a recorded backlog drain it through their real links; hub ingest workers in
   their own processes (each owning a partition of the kiosks, on its partition's shared subscription)
   commit durably and ack; the kiosks mark the events delivered. Measured from link start to every
   outbox empty, with 1 worker, N workers, then 1 worker again (the better 1-worker run is the
   baseline, so a warming database does not flatter N); once with PostgreSQL on this machine and
   once behind a relay adding 1 ms each way (a database on another machine of the LAN, bench/latency.py);
3. propagation: `hub serve` (real process) and 500 simulated kiosks (plain MQTT clients subscribed to the
   flag updates, as a kiosk is, 100 per process); a flag is added through the operators' API and each
   kiosk's receive time is taken on arrival (CLOCK_MONOTONIC, the signature is then checked outside the
   timing). p50/p99 over all kiosks and flags.

Last line:
`hub: ingest_per_s=... relay_per_s=... ratio=... workers_scaling=... propagation_p99_ms=... lost=0 dup=0`
- ingest_per_s: the N-worker full path, events/s; ratio = ingest_per_s / relay_per_s;
- workers_scaling: N-worker / 1-worker ingest rate with PostgreSQL on this machine (on a 2-core machine
  the kiosks, broker, database and workers share the cores, so this is a floor); the LAN run's scaling
  is printed above it;
- lost / dup: recorded events missing at the hub / stored more than once, over all full-path runs.

Usage: python bench/hub.py [--events 40000] [--kiosks 20] [--workers 2] [--fleet 500] [--flags 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import queue
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.latency import serve_in_process
from bench.link import relay_baseline
from hub.api_client import ApiClient
from hub.db import open_database
from hub.mqtt_ingest import IngestWorker
from hub.operators import set_operator
from hub.schema import events as events_table
from hub.schema import migrate
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.hubproc import HubProcess
from testkit.linkrig import fast_link_config, passage_fields
from testkit.services import MosquittoBroker, PostgresServer, fresh_postgres_url
from wire import topics
from wire.envelope import key_id, load_public_key, open_envelope, public_pem
from wire.events import encode_events

BATCH = 100
LAN_DELAY_S = 0.001  # each way: PostgreSQL on another machine of the same LAN
PASSWORD = "bench-password-long"


def run_worker(
    url: str, port: int, group: str, name: str, partition: int, partitions: int, ready: Any, stop: Any
) -> None:
    """One hub ingest worker in its own process (its own interpreter, its own GIL)."""
    db = open_database(url)
    worker = IngestWorker(
        db, "127.0.0.1", port, client_id=name, group=group, partition=partition, partitions=partitions
    ).start()
    if worker.connected.wait(30):
        ready.set()
    stop.wait()
    worker.stop()


def backlog(work: Path, run: str, kiosks: int, per_kiosk: int) -> dict[str, KioskStore]:
    stores = {}
    for k in range(kiosks):
        kiosk_id = f"{run}-k{k}"
        store = KioskStore(work / f"{kiosk_id}.db")
        store.db.execute("PRAGMA synchronous=OFF")  # preparing the backlog is not what is measured
        for i in range(per_kiosk):
            store.record(passage_fields(i, kiosk_id))
        store.db.execute("PRAGMA synchronous=FULL")
        stores[kiosk_id] = store
    return stores


def full_path(
    work: Path,
    server_url: str,
    port: int,
    run: str,
    workers: int,
    kiosks: int,
    per_kiosk: int,
    db_port: int | None = None,
) -> tuple[float, int, int]:
    """events/s from link start to every outbox empty; (rate, lost, dup). `db_port`: workers' way in."""
    direct = fresh_postgres_url(server_url)
    migrate(open_database(direct), dt.datetime.now(dt.UTC))
    url = direct if db_port is None else re.sub(r":\d+/", f":{db_port}/", direct, count=1)
    stores = backlog(work, run, kiosks, per_kiosk)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    procs, readies = [], []
    for w in range(workers):
        ready = ctx.Event()
        p = ctx.Process(
            target=run_worker, args=(url, port, f"bench-{run}", f"{run}-w{w}", w, workers, ready, stop)
        )
        p.start()
        procs.append(p)
        readies.append(ready)
    for ready in readies:
        if not ready.wait(60):
            raise SystemExit("an ingest worker did not connect")
    config = fast_link_config(port, batch_size=BATCH, max_inflight_batches=10, ack_timeout_s=15)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    links = [KioskLink(config, kiosk_id, store).start() for kiosk_id, store in stores.items()]
    while any(s.backlog() for s in stores.values()):
        if time.perf_counter() - t0 > 900:
            raise SystemExit("the backlog did not drain in 15 minutes")
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    for link in links:
        link.stop()
    stop.set()
    for p in procs:
        p.join(30)
    kiosk_cpu = time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    print(
        f"  {workers} worker(s): {elapsed:.1f}s wall; CPU: kiosk links {kiosk_cpu:.1f}s, "
        f"worker processes {worker_cpu:.1f}s (with their start-up)"
    )
    n = kiosks * per_kiosk
    db = open_database(direct)
    with db.begin() as conn:
        stored = int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar() or 0)
        distinct = int(
            conn.execute(sa.select(sa.func.count(sa.distinct(events_table.c.event_id)))).scalar() or 0
        )
    db.dispose()
    return n / elapsed, n - distinct, stored - distinct


CLIENTS_PER_PROCESS = 100  # paho uses select(): one process cannot watch much more than 1,000 sockets


def run_fleet_part(
    port: int, first: int, count: int, hub_pem: bytes, ready: Any, stop: Any, out: Any
) -> None:
    """`count` simulated kiosks in one process: subscribe to the flag updates, report each arrival.

    The arrival time is CLOCK_MONOTONIC (system-wide, so comparable with the parent's), taken before the
    signature check; a message that fails the check is reported as forged.
    """
    hub_key = load_public_key(hub_pem)
    trusted = {key_id(hub_key): hub_key}
    subscribed = threading.Semaphore(0)

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        t = time.monotonic()
        try:
            out.put((open_envelope(message.payload, trusted, "flags.delta").version, t))
        except ValueError:
            out.put((-1, t))

    clients = []
    for i in range(first, first + count):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{i}", protocol=mqtt.MQTTv5)
        c.on_connect = lambda cl, *_a: cl.subscribe(topics.FLAGS_UPDATES, qos=1)
        c.on_subscribe = lambda *_a: subscribed.release()
        c.on_message = on_message
        c.connect_async("127.0.0.1", port, keepalive=60)
        c.loop_start()
        clients.append(c)
    if all(subscribed.acquire(timeout=60) for _ in range(count)):
        ready.set()
    stop.wait()
    for c in clients:
        c.disconnect()
        c.loop_stop()


def propagation(work: Path, port: int, fleet_size: int, flags: int) -> tuple[list[float], int]:
    """Latencies (ms) from the API call adding a flag to its arrival at each simulated kiosk."""
    hub = HubProcess(work / "hub", port)
    db = open_database(hub.database_url)
    migrate(db, dt.datetime.now(dt.UTC))
    set_operator(db, "bench", "operator", PASSWORD, actor="bench", now=dt.datetime.now(dt.UTC))
    db.dispose()
    hub.start()
    try:
        deadline = time.monotonic() + 30
        while not (found := re.findall(r"dashboard on (http://\S+)", hub.log_text())):
            if time.monotonic() > deadline:
                raise SystemExit(f"hub serve did not start:\n{hub.log_text()[-2000:]}")
            time.sleep(0.1)
        api = found[-1]
        operator = ApiClient(api).login("bench", PASSWORD)
        ctx = multiprocessing.get_context("spawn")
        stop, out = ctx.Event(), ctx.Queue()
        pem = public_pem(hub.signing_key.public_key())
        parts = []
        for first in range(0, fleet_size, CLIENTS_PER_PROCESS):
            ready = ctx.Event()
            count = min(CLIENTS_PER_PROCESS, fleet_size - first)
            proc = ctx.Process(target=run_fleet_part, args=(port, first, count, pem, ready, stop, out))
            proc.start()
            parts.append((proc, ready))
        for _, ready in parts:
            if not ready.wait(120):
                raise SystemExit("simulated kiosks did not all subscribe")
        latencies: list[float] = []
        forged = 0
        for i in range(flags):
            target = f"0010990{i:05d}"
            t0 = time.monotonic()
            version = operator.add_flag(target, "F0")
            got = 0
            while got < fleet_size:
                try:
                    arrived, t = out.get(timeout=30)
                except queue.Empty:
                    raise SystemExit(f"flag {version} reached only {got} of {fleet_size} kiosks") from None
                if arrived == version:
                    got += 1
                    latencies.append((t - t0) * 1000)
                elif arrived < 0:
                    forged += 1
        stop.set()
        for proc, _ in parts:
            proc.join(30)
        return latencies, forged
    finally:
        hub.stop()


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000, help="per full-path run")
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fleet", type=int, default=500)
    parser.add_argument("--flags", type=int, default=10)
    args = parser.parse_args()
    per_kiosk = max(1, args.events // args.kiosks)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(workdir=work / "mosquitto", persistence=False)
        postgres = PostgresServer(workdir=work / "postgres", durable=True)
        broker.start()
        postgres.start()
        try:
            sample = KioskStore(work / "sample.db")
            for i in range(BATCH * 50):
                sample.record(passage_fields(i, "sample"))
            payloads = [
                encode_events(sample.outbox(limit=BATCH, after_seq=s)) for s in range(0, BATCH * 50, BATCH)
            ]
            relay = relay_baseline(broker.port, payloads * 4)
            print(f"relay (plain paho, QoS 1, no storage): {relay:,.0f} events/s")

            def compare(label: str, run: str, db_port: int | None) -> tuple[float, float, int, int]:
                """1 worker, N workers, 1 worker again: the better 1-worker run is the baseline."""
                runs = [
                    full_path(
                        work, postgres.url, broker.port, f"{run}{i}", n, args.kiosks, per_kiosk, db_port
                    )
                    for i, n in enumerate((1, args.workers, 1))
                ]
                one, many = max(runs[0][0], runs[2][0]), runs[1][0]
                lost, dup = sum(r[1] for r in runs), sum(r[2] for r in runs)
                print(
                    f"{label}: 1 worker {one:,.0f} events/s (best of two runs), {args.workers} workers "
                    f"{many:,.0f} events/s, scaling {many / one:.2f} (lost {lost}, dup {dup})"
                )
                return one, many, lost, dup

            one, many, lost1, dup1 = compare("PostgreSQL on this machine", "local", None)
            ctx = multiprocessing.get_context("spawn")
            proxy_port, proxy_stop = ctx.Queue(), ctx.Event()
            proxy = ctx.Process(
                target=serve_in_process, args=(postgres.port, LAN_DELAY_S, proxy_port, proxy_stop)
            )
            proxy.start()
            try:
                lan = compare(
                    f"PostgreSQL over a LAN link ({LAN_DELAY_S * 1000:g} ms each way)",
                    "lan",
                    proxy_port.get(timeout=30),
                )
            finally:
                proxy_stop.set()
                proxy.join(10)
            lost2, dup2 = lan[2], lan[3]

            latencies, forged = propagation(work, broker.port, args.fleet, args.flags)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            print(
                f"propagation to {args.fleet} kiosks x {args.flags} flags: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms; bad signatures {forged}"
            )
        finally:
            broker.kill()
            postgres.stop()
    print(
        f"hub: ingest_per_s={many:.0f} relay_per_s={relay:.0f} ratio={many / relay:.3f} "
        f"workers_scaling={many / one:.2f} propagation_p99_ms={p99:.1f} "
        f"lost={lost1 + lost2} dup={dup1 + dup2}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
