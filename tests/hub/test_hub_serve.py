"""`hub serve` as a real process between real kiosks links, a real Mosquitto and the registry server.

The faults of issue 5 under load: the hub SIGKILLed and restarted, the broker restarted, the registry down
for a stretch. Afterwards every recorded passage is at the hub exactly once, in each kiosk's order, and the
registry has received each one once in effect (re-sends under the same Idempotency-Key are answered 409).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.db import open_database
from hub.flags import add_flag
from hub.schema import events
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.hubproc import HubProcess
from testkit.linkrig import drained, fast_link_config, passage_fields, wait_for
from testkit.registry_server import RegistryServer
from testkit.services import MosquittoBroker, fresh_postgres_url
from tests.support.stress import report
from wire.envelope import Signed

TOKEN = "test-token"
PERSON = "001099012345"


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with RegistryServer(token=TOKEN) as server:
        yield server


def stored(url: str) -> list[tuple[str, str, int]]:
    db = open_database(url)
    try:
        with db.begin() as conn:
            q = sa.select(events.c.event_id, events.c.kiosk_id, events.c.seq).order_by(events.c.received_at)
            return [tuple(r) for r in conn.execute(q)]
    finally:
        db.dispose()


def api_url(hub: HubProcess) -> str:
    found: list[str] = []

    def logged() -> bool:
        found[:] = re.findall(r"dashboard on (http://\S+)", hub.log_text())
        return bool(found)

    wait_for(logged, 20, "the hub to log its API address")
    return found[-1]


def test_serve_stores_acks_forwards_and_pushes_flags(
    broker: MosquittoBroker, registry: RegistryServer, tmp_path: Path
) -> None:
    hub = HubProcess(tmp_path / "hub", broker.port, registry_url=registry.url).start()
    updates: list[Signed] = []
    store = KioskStore(tmp_path / "kiosk.db")
    for i in range(40):
        store.record(passage_fields(i))
    with KioskLink(
        fast_link_config(broker.port),
        "kiosk-1",
        store,
        hub_keys=[hub.signing_key.public_key()],
        on_update=updates.append,
    ) as link:
        wait_for(drained(store), 30, "the kiosk's outbox to drain through hub serve")
        wait_for(lambda: len(registry.state.arrivals) == 40, 30, "the registry to receive every passage")
        with urllib.request.urlopen(f"{api_url(hub)}/api/v1/health", timeout=5) as resp:
            assert resp.status == 200
        db = open_database(hub.database_url)
        now = dt.datetime.now(dt.UTC)
        add_flag(db, PERSON, "F0", starts_at=now, actor="test", now=now)  # as `hub flags add` does
        db.dispose()
        wait_for(lambda: link.flags.version >= 1, 15, "the flag delta at the kiosk")
    assert hub.stop() == 0, hub.log_text()
    assert len(stored(hub.database_url)) == 40
    assert "Traceback" not in hub.log_text()


@pytest.mark.slow
@pytest.mark.parametrize("backend,workers", [("sqlite", 1), ("postgresql", 2)])
def test_hub_killed_broker_restarted_registry_down_under_load_loses_nothing(
    broker: MosquittoBroker,
    registry: RegistryServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
    workers: int,
) -> None:
    url = "" if backend == "sqlite" else fresh_postgres_url(request.getfixturevalue("postgres_url"))
    hub = HubProcess(
        tmp_path / "hub", broker.port, database_url=url, registry_url=registry.url, workers=workers
    ).start()
    kiosks = [f"kiosk-{n}" for n in range(1, 4)]
    stores = {k: KioskStore(tmp_path / f"{k}.db") for k in kiosks}
    links = {k: KioskLink(fast_link_config(broker.port), k, stores[k]).start() for k in kiosks}
    recorded: dict[str, list[str]] = {k: [] for k in kiosks}
    stop = threading.Event()

    def scanning(kiosk: str) -> None:  # each kiosk keeps deciding, whatever the hub and network do
        i = 0
        while not stop.is_set():
            event = stores[kiosk].record(passage_fields(i, kiosk))
            assert event is not None
            recorded[kiosk].append(event.event_id)
            links[kiosk].nudge()
            i += 1
            time.sleep(0.01)

    scanners = [threading.Thread(target=scanning, args=(k,)) for k in kiosks]
    for t in scanners:
        t.start()
    try:
        total = lambda: sum(len(v) for v in recorded.values())  # noqa: E731
        wait_for(lambda: len(registry.state.arrivals) > 50, 30, "forwarding under load")
        hub.kill()  # 1. the hub dies mid-batch
        time.sleep(0.3)
        hub.start()
        broker.kill()  # 2. the broker crashes while the hub starts
        time.sleep(0.3)
        broker.start()
        registry.stop()  # 3. the registry is down for a stretch
        mark = total()
        wait_for(lambda: total() > mark + 150, 30, "more passages while the registry is down")
        hub.kill()  # 4. and the hub dies again while it is
        hub.start()
        registry.start()
        wait_for(lambda: total() > mark + 300, 30, "more passages after the registry is back")
    finally:
        stop.set()
        for t in scanners:
            t.join()
    for k in kiosks:
        wait_for(drained(stores[k]), 90, f"{k}'s outbox to drain")
    every = {e for ids in recorded.values() for e in ids}
    wait_for(lambda: set(registry.state.arrivals) == every, 90, "the registry to have every passage")
    for link in links.values():
        link.stop()
    assert hub.stop() == 0

    rows = stored(hub.database_url)
    report(every, [event_id for event_id, _, _ in rows], "hub")
    report(every, registry.state.arrivals, "registry")
    assert len(rows) == len(every) == total()  # nothing lost, nothing stored twice
    for k in kiosks:  # each kiosk's log at the hub: gap-free and in its own order
        seqs = sorted(seq for _, kiosk, seq in rows if kiosk == k)
        assert seqs == list(range(1, len(recorded[k]) + 1))
    assert len(registry.state.arrivals) == len(set(registry.state.arrivals)) == len(every)
    statuses = {code for _, _, code in registry.state.requests}
    assert statuses <= {201, 409}, statuses  # never a refusal: re-sends were recognised
