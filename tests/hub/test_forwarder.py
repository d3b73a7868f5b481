"""The forwarder against a real registry server over HTTP, on SQLite and PostgreSQL.

Time is injected: each test drives `step(now)` and jumps `now` to the forwarder's own `wait_until`, so
backoff is exercised without sleeping. Only the stall test waits for a real (short) client timeout.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hub.db import Database
from hub.ingest import store_events
from hub.registry.client import RegistryClient
from hub.registry.forwarder import (
    Forwarder,
    ForwarderConfig,
    StepResult,
    list_dead_letters,
    replay_dead_letter,
)
from hub.schema import registry_outbox
from testkit.hub_events import T0, make_event
from testkit.registry_server import RegistryServer

TOKEN = "test-token"


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    server = RegistryServer(token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def forwarder(
    db: Database, registry: RegistryServer, *, batch_size: int = 4, timeout_s: float = 5.0
) -> Forwarder:
    return Forwarder(
        db,
        RegistryClient(registry.url, TOKEN, timeout_s=timeout_s),
        ForwarderConfig(batch_size=batch_size, base_backoff_s=0.5, max_backoff_s=30.0),
        rng=random.Random(1),
    )


def drain(fwd: Forwarder, now: dt.datetime, max_steps: int = 100) -> tuple[dt.datetime, list[StepResult]]:
    """Step until the outbox is empty, jumping the injected clock over every backoff."""
    results: list[StepResult] = []
    for _ in range(max_steps):
        r = fwd.step(now)
        results.append(r)
        if r.kind == "idle":
            return now, results
        if r.wait_until is not None:
            now = max(now, r.wait_until)
    raise AssertionError(f"outbox not drained after {max_steps} steps: {[r.kind for r in results]}")


def seed(db: Database, n: int, start: int = 0) -> list[str]:
    evs = [make_event(i) for i in range(start, start + n)]
    store_events(db, evs, now=T0)
    return [e["event_id"] for e in evs]


def pending(db: Database) -> int:
    with db.begin() as conn:
        q = (
            sa.select(sa.func.count())
            .select_from(registry_outbox)
            .where(registry_outbox.c.state == "pending")
        )
        return int(conn.execute(q).scalar_one())


def test_delivers_in_order_in_batches(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 10)
    _, results = drain(forwarder(db, registry), T0)
    assert registry.state.arrivals == ids
    assert [len(r.event_ids) for r in results if r.kind == "sent"] == [4, 4, 2]
    assert pending(db) == 0


def test_registry_down_then_up_delivers_each_once(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 6)
    registry.stop()  # connection refused
    fwd = forwarder(db, registry)
    now = T0
    for _ in range(3):
        r = fwd.step(now)
        assert r.kind == "retry" and r.reply is not None and r.reply.status is None
        assert r.wait_until is not None
        assert fwd.step(now).kind == "waiting"  # head is backing off: nothing behind it jumps ahead
        now = r.wait_until
    registry.start()
    drain(fwd, now)
    assert registry.state.arrivals == ids
    with db.begin() as conn:
        attempts = (
            conn.execute(sa.select(registry_outbox.c.attempts).order_by(registry_outbox.c.id)).scalars().all()
        )
    assert attempts[:4] == [3, 3, 3, 3] and attempts[4:] == [0, 0]


def test_5xx_then_ok(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 3)
    registry.state.set_faults(fail_status=503, fail_count=2)
    _, results = drain(forwarder(db, registry), T0)
    assert [r.kind for r in results] == ["retry", "retry", "sent", "idle"]
    assert [s for _, _, s in registry.state.requests] == [503, 503, 201]
    keys = {k for k, _, _ in registry.state.requests}
    assert len(keys) == 1  # every retry of the batch carried the same Idempotency-Key
    assert registry.state.arrivals == ids


def test_stall_times_out_and_is_retried(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 2)
    registry.state.set_faults(stall=True)
    fwd = forwarder(db, registry, timeout_s=0.3)
    r = fwd.step(T0)
    assert r.kind == "retry" and r.reply is not None and r.reply.status is None
    assert r.reply.error is not None and "timed out" in r.reply.error.lower()
    registry.state.clear_faults()
    assert r.wait_until is not None
    drain(fwd, r.wait_until)
    assert registry.state.arrivals == ids


def test_slow_answer_within_timeout_is_fine(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 2)
    registry.state.set_faults(delay_s=0.2)
    drain(forwarder(db, registry, timeout_s=3.0), T0)
    assert registry.state.arrivals == ids


def test_409_counts_as_accepted(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 3)
    # The registry already has these events (e.g. another hub sent them under another key).
    client = RegistryClient(registry.url, TOKEN)
    assert client.post_passages([make_event(i) for i in range(3)], "elsewhere").status == 201
    _, results = drain(forwarder(db, registry), T0)
    assert results[0].kind == "sent" and results[0].reply is not None and results[0].reply.status == 409
    assert pending(db) == 0
    assert registry.state.arrivals == ids


def test_4xx_dead_letters_only_the_bad_event_then_replay(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 6)
    registry.state.set_faults(reject={ids[2]: (422, "id_number fails checksum")})
    now, results = drain(forwarder(db, registry), T0)
    assert "split" in [r.kind for r in results]
    assert registry.state.arrivals == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    letters = list_dead_letters(db)
    assert len(letters) == 1
    assert letters[0]["event_ids"] == [ids[2]]
    assert letters[0]["status_code"] == 422
    assert letters[0]["reason"] == "id_number fails checksum"

    registry.state.clear_faults()
    assert replay_dead_letter(db, letters[0]["id"], now=now, actor="operator:lan") == [ids[2]]
    with pytest.raises(ValueError, match="already replayed"):
        replay_dead_letter(db, letters[0]["id"], now=now, actor="operator:lan")
    drain(forwarder(db, registry), now)
    assert Counter(registry.state.arrivals) == Counter(ids)
    assert list_dead_letters(db) == []


def test_dead_letters_over_the_api_carry_their_zone(db: Database, registry: RegistryServer) -> None:
    """The admin's dead-letter list and replay over HTTP. Was: the stored (naive UTC) times went out
    without a zone ("2026-11-20T01:00:00"), which a client reads as its own local time."""
    from hub.api import API, ApiSettings, create_app
    from hub.http_server import ApiServer
    from hub.operators import set_operator
    from tests.hub.test_api import PASSWORD, Client

    ids = seed(db, 3)
    registry.state.set_faults(reject={ids[1]: (422, "id_number fails checksum")})
    now, _ = drain(forwarder(db, registry), T0)
    set_operator(db, "ad", "admin", PASSWORD, actor="test", now=T0)
    server = ApiServer(create_app(db, ApiSettings(clock=lambda: now))).start()
    try:
        admin = Client(server.url).login("ad")
        code, letters = admin.call("GET", f"{API}/dead-letters")
        assert code == 200 and [d["event_ids"] for d in letters] == [[ids[1]]]
        created = dt.datetime.fromisoformat(letters[0]["created_at"])
        assert created.utcoffset() == dt.timedelta(0) and T0 <= created <= now
        assert letters[0]["replayed_at"] is None and letters[0]["status_code"] == 422
        replay = f"{API}/dead-letters/{letters[0]['id']}/replay"
        assert admin.call("POST", replay) == (200, {"requeued": [ids[1]]})
        assert admin.call("POST", replay)[0] == 409
        code, letters = admin.call("GET", f"{API}/dead-letters?include_replayed=true")
        assert dt.datetime.fromisoformat(letters[0]["replayed_at"]) == now
    finally:
        server.stop()


def test_crash_between_send_and_record_resends_same_key(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 3)
    crashed = forwarder(db, registry)
    batch = crashed.claim(T0)
    assert not isinstance(batch, StepResult)
    assert crashed.send(batch).status == 201
    # ... the hub dies here: the outbox still says pending. New events arrive meanwhile.
    more = seed(db, 2, start=3)
    assert pending(db) == 5

    drain(forwarder(db, registry), T0)
    keys = [k for k, _, _ in registry.state.requests]
    statuses = [s for _, _, s in registry.state.requests]
    assert keys[0] == keys[1] == batch.key and statuses[:2] == [201, 409]
    assert registry.state.arrivals == ids + more
    assert registry.state.requests[1][1] == ids  # the re-sent batch is exactly the crashed one


def test_background_loop_recovers_when_registry_returns(db: Database, registry: RegistryServer) -> None:
    ids = seed(db, 9)
    registry.stop()
    fwd = Forwarder(
        db,
        RegistryClient(registry.url, TOKEN, timeout_s=1.0),
        ForwarderConfig(batch_size=4, base_backoff_s=0.02, max_backoff_s=0.1, idle_poll_s=0.02),
        rng=random.Random(2),
    )
    stop = threading.Event()
    thread = threading.Thread(target=fwd.run, args=(stop, lambda: dt.datetime.now(dt.UTC)), daemon=True)
    thread.start()
    try:
        wait_for(lambda: any_attempts(db), 5.0)
        registry.start()
        wait_for(lambda: len(registry.state.arrivals) == 9, 10.0)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert registry.state.arrivals == ids


def any_attempts(db: Database) -> bool:
    with db.begin() as conn:
        return bool(conn.execute(sa.select(sa.func.max(registry_outbox.c.attempts))).scalar())


def wait_for(cond: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")
