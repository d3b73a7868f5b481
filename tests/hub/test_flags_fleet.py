"""Flag log (operators and registry) and the fleet view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from hub.db import Database
from hub.flags import (
    active_flags,
    add_flag,
    changes_since,
    head_version,
    import_registry_changes,
    lift_flag,
    registry_cursor,
    sync_from_registry,
)
from hub.fleet import fleet, record_status
from hub.ingest import store_events
from hub.registry.client import RegistryClient
from hub.schema import audit_log
from testkit.hub_events import T0, make_event
from testkit.registry_server import RegistryServer

A, B = "001234567890", "009876543210"


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with RegistryServer(token="t") as server:
        yield server


def test_operator_add_and_lift(db: Database) -> None:
    v1 = add_flag(db, A, "F0", starts_at=T0, actor="lan", now=T0)
    v2 = add_flag(db, B, "F1", starts_at=T0, ends_at=T0 + dt.timedelta(days=14), actor="lan", now=T0)
    assert active_flags(db, T0 + dt.timedelta(hours=1)) == {("person", A): "F0", ("person", B): "F1"}
    v3 = lift_flag(db, A, actor="lan", now=T0 + dt.timedelta(days=1))
    assert v1 < v2 < v3 == head_version(db)
    assert active_flags(db, T0 + dt.timedelta(days=2)) == {("person", B): "F1"}
    assert active_flags(db, T0 + dt.timedelta(days=15)) == {}
    assert [(c.version, c.lifted) for c in changes_since(db, v1)] == [(v2, False), (v3, True)]
    with pytest.raises(KeyError):
        lift_flag(db, A, actor="lan", now=T0)
    with pytest.raises(ValueError, match="12-digit"):
        add_flag(db, "123", "F0", starts_at=T0, actor="lan", now=T0)
    with db.begin() as conn:
        actions = conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
    assert actions == ["flag.add", "flag.add", "flag.lift"]


def test_registry_sync_is_incremental_and_idempotent(db: Database, registry: RegistryServer) -> None:
    client = RegistryClient(registry.url, "t")
    registry.state.add_flag(A, "F0", starts_at="2026-11-20T00:00:00Z")
    registry.state.add_flag(B, "F2")
    assert sync_from_registry(db, client, now=T0) == 2
    assert sync_from_registry(db, client, now=T0) == 0
    registry.state.add_flag(A, "F0", lifted=True)
    assert sync_from_registry(db, client, now=T0) == 1
    assert registry_cursor(db) == 3
    assert active_flags(db, T0 + dt.timedelta(hours=1)) == {("person", B): "F2"}
    # A repeated answer (e.g. two workers polled at once) changes nothing.
    assert (
        import_registry_changes(db, 3, [{"version": 3, "target": A, "status": "F0", "lifted": True}], now=T0)
        == 0
    )


def test_fleet_view(db: Database) -> None:
    store_events(db, [make_event(7, kiosk="k1", checkpoint="cp-9")], now=T0)
    record_status(db, "k1", {"state": "online", "backlog": 0}, now=T0)
    record_status(db, "k2", {"state": "offline"}, now=T0)
    rows = {r["kiosk_id"]: r for r in fleet(db)}
    assert rows["k1"]["checkpoint_id"] == "cp-9" and rows["k1"]["last_seq"] == 7
    assert rows["k1"]["status"] == {"state": "online", "backlog": 0}
    assert rows["k2"]["status"] == {"state": "offline"} and rows["k2"]["last_seen"] is None
