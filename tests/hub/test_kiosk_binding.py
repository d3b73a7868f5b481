"""A compromised kiosk over the real broker: its claims about where it stands and huge integers.

Issue 12 item 5, end to end: a kiosk link publishes through Mosquitto to a hub ingest worker on each
database backend.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hub.assignments import assign, assignments
from hub.db import Database
from hub.schema import events
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.hub_events import T0
from testkit.linkrig import drained, fast_link_config, passage_fields, start_hub, wait_for
from testkit.services import MosquittoBroker


def test_a_kiosk_claiming_another_checkpoint_is_stored_at_its_own_and_counted(
    broker: MosquittoBroker, db: Database, tmp_path: Path
) -> None:
    assign(db, "kiosk-1", "cp-1", actor="cli:test", now=T0)
    hub = start_hub(db, broker.port)
    liar, neighbour = KioskStore(tmp_path / "k1.db"), KioskStore(tmp_path / "k2.db")
    for i in range(20):
        fields = passage_fields(i, "kiosk-1")
        fields.update(checkpoint_id="cp-2" if i % 2 else "cp-1", flags_version=3)
        liar.record(fields)
        neighbour.record({**passage_fields(i, "kiosk-2"), "checkpoint_id": "cp-2"})
    links = [
        KioskLink(fast_link_config(broker.port), "kiosk-1", liar).start(),
        KioskLink(fast_link_config(broker.port), "kiosk-2", neighbour).start(),
    ]
    try:
        wait_for(lambda: drained(liar)() and drained(neighbour)(), 30, "both outboxes to drain")
    finally:
        for link in links:
            link.stop()
        hub.stop()
    with db.begin() as conn:
        rows = conn.execute(
            sa.select(events.c.kiosk_id, events.c.checkpoint_id, events.c.flags_version)
        ).all()
    assert sorted({(k, c) for k, c, _ in rows}) == [("kiosk-1", "cp-1"), ("kiosk-2", "cp-2")]
    assert len(rows) == 40  # none lost, and the neighbour's commit groups were never failed
    assert [v for k, _, v in rows if k == "kiosk-1"] == [3] * 20  # (2**63 is refused: test_storage.py)
    assert assignments(db)["kiosk-1"]["wrong_claims"] == 10
