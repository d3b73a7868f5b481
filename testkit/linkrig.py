"""A kiosk link and a real hub ingest worker on a real broker, for the delivery tests and bench."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from hub.db import Database, open_database
from hub.mqtt_ingest import IngestWorker
from hub.schema import events, migrate
from kiosk.mqtt.config import MqttConfig
from kiosk.store import KioskStore
from wire.events import format_time, new_event_id

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def passage_fields(i: int, kiosk: str = "kiosk-1") -> dict[str, Any]:
    return {
        "event_id": new_event_id(),
        "kiosk_id": kiosk,
        "checkpoint_id": "cp-1",
        "scanned_at": format_time(T0 + timedelta(seconds=i)),
        "clock_ok": True,
        "mode": "self",
        "kind": "cccd",
        "subject": None,
        "verdict": "PASS",
        "reasons": [],
    }


def fast_link_config(port: int, **changes: Any) -> MqttConfig:
    base: dict[str, Any] = {
        "port": port,
        "ack_timeout_s": 1.0,
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.5,
        "status_interval_s": 1.0,
        "batch_size": 50,
    }
    return MqttConfig.model_validate({**base, **changes})


def hub_database(path: Path) -> Database:
    db = open_database(f"sqlite:///{path}")
    migrate(db, T0)
    return db


def start_hub(db: Database, port: int, client_id: str = "hub-ingest-1") -> IngestWorker:
    worker = IngestWorker(db, "127.0.0.1", port, client_id=client_id).start()
    if not worker.connected.wait(10):
        raise TimeoutError("hub ingest did not connect")
    return worker


def stored_seqs(db: Database, kiosk: str = "kiosk-1") -> list[int]:
    """Seqs the hub stored for a kiosk, in the order it stored them."""
    with db.begin() as conn:
        rows = conn.execute(
            sa.select(events.c.seq)
            .where(events.c.kiosk_id == kiosk)
            .order_by(events.c.received_at, events.c.seq)
        )
        return [int(r[0]) for r in rows]


def stored_count(db: Database) -> int:
    with db.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def drained(store: KioskStore) -> Callable[[], bool]:
    return lambda: store.backlog() == 0


def forget_session(host: str, port: int, client_id: str) -> None:
    """Connect as `client_id` with a clean start and no session expiry: the broker drops whatever it
    queued for that client (as when a kiosk stays away longer than its session lasts)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(host, port, clean_start=True)
    client.loop_start()
    try:
        wait_for(client.is_connected, 10, "the session to be replaced")
    finally:
        client.disconnect()
        client.loop_stop()
