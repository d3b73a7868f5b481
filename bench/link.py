"""Link benchmark: drain a large kiosk backlog to the real hub over a real Mosquitto.

The kiosk was offline and recorded N passages; the link comes back. We measure how fast the
outbox drains end to end (published, stored by the hub's ingest worker in its own process,
acked back, marked delivered), and compare with a baseline measured in the same run: a plain
paho publisher sending the same batches to a plain subscriber (no storage, no acks).

Last line: link: drain_per_s=... publish_us=... lost=0 dup_at_hub=0
- drain_per_s: events per second from link start to an empty outbox;
- publish_us: the kiosk process's CPU time per event during the drain (read, encode, publish,
  ack handling, marking delivered), the hub's work being in another process;
- lost / dup_at_hub: recorded events missing at the hub / stored more than once.

Usage: python bench/link.py [--events 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.schema import events as events_table
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import fast_link_config, hub_database, passage_fields, start_hub
from testkit.services import MosquittoBroker
from wire.events import encode_events


def run_hub(db_path: str, port: int, ready: multiprocessing.Event, stop: multiprocessing.Event) -> None:
    db = hub_database(Path(db_path))
    hub = start_hub(db, port)
    ready.set()
    stop.wait()
    hub.stop()


def relay_baseline(port: int, payloads: list[bytes]) -> float:
    """Events per second through the broker with plain paho clients (QoS 1, no storage, no acks)."""
    payloads_count = 0
    got: queue.Queue[int] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, m: got.put(len(m.payload))
    sub.connect("127.0.0.1", port)
    sub.subscribe("bench/relay", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.3)
    per_message = len(payloads[0].split(b'"event_id"')) - 1
    started = time.perf_counter()
    for payload in payloads:
        pub.publish("bench/relay", payload, qos=1)
    for _ in payloads:
        got.get(timeout=60)
        payloads_count += 1
    elapsed = time.perf_counter() - started
    pub.loop_stop()
    sub.loop_stop()
    return payloads_count * per_message / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory(prefix="bench-link-") as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(workdir=work / "mosquitto", persistence=False)
        broker.start()
        try:
            store = KioskStore(work / "kiosk.db")
            # Preparing the backlog is not what we measure: skip the per-passage fsync for it.
            store.db.execute("PRAGMA synchronous=OFF")
            t0 = time.perf_counter()
            for i in range(n):
                store.record(passage_fields(i))
            store.db.execute("PRAGMA synchronous=FULL")
            print(f"backlog of {n} recorded in {time.perf_counter() - t0:.1f}s")

            config = fast_link_config(broker.port, batch_size=200, max_inflight_batches=20, ack_timeout_s=30)
            batches = [
                encode_events(store.outbox(limit=200, after_seq=s)) for s in range(0, min(n, 20_000), 200)
            ]
            relay_per_s = relay_baseline(broker.port, batches)

            ctx = multiprocessing.get_context("spawn")
            ready, stop = ctx.Event(), ctx.Event()
            hub_proc = ctx.Process(target=run_hub, args=(str(work / "hub.db"), broker.port, ready, stop))
            hub_proc.start()
            if not ready.wait(60):
                raise SystemExit("hub did not start")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with KioskLink(config, "kiosk-1", store) as link:
                while store.backlog() > 0:
                    if time.perf_counter() - wall0 > 600:
                        raise SystemExit("drain did not finish in 10 minutes")
                    time.sleep(0.05)
                resends = link.stats.resends
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            stop.set()
            hub_proc.join(30)

            db = hub_database(work / "hub.db")
            with db.begin() as conn:
                stored = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar() or 0
                distinct = (
                    conn.execute(sa.select(sa.func.count(sa.distinct(events_table.c.event_id)))).scalar() or 0
                )
            lost = n - int(distinct)
            dup = int(stored) - int(distinct)
            drain_per_s = n / wall
            print(f"baseline relay (plain paho, no storage): {relay_per_s:,.0f} events/s")
            print(
                f"drain: {n} events in {wall:.1f}s = {drain_per_s:,.0f} events/s "
                f"({drain_per_s / relay_per_s:.2f}x the relay); re-sends {resends}"
            )
            publish_us = cpu / n * 1e6
            summary = (
                f"drain_per_s={drain_per_s:.0f} publish_us={publish_us:.1f} lost={lost} dup_at_hub={dup}"
            )
            print(f"link: {summary}")
        finally:
            broker.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
