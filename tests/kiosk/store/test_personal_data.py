"""What a stolen SD card tells (issue 12 item 7): personal fields only until the hub's ack.

Before the ack the kiosk needs the subject to re-send it, so it is in the SQLite file; after the
hub's ack (a real broker, the real hub ingest, the link's ack path) no id number, name or date of
birth is anywhere in the file's bytes, WAL included; a keyed hash of the id remains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.schema import events
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import (
    drained,
    fast_link_config,
    hub_database,
    passage_fields,
    start_hub,
    stored_count,
    wait_for,
)
from testkit.services import MosquittoBroker
from wire.idhash import id_hash_hex

KEY = b"deployment-flag-key-for-the-test"
N = 30


def person(i: int) -> dict[str, str]:
    return {
        "id_number": f"0790990{i:05d}",
        "name": f"Phạm Thị Riêng Tư {i}",
        "dob": f"19{50 + i}-03-0{1 + i % 9}",
    }


def with_subject(i: int) -> dict[str, Any]:
    return {**passage_fields(i), "subject": person(i)}


def file_bytes(db: Path) -> bytes:
    """Everything SQLite keeps on the card for this database: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


def personal_values() -> list[bytes]:
    return [v.encode() for i in range(N) for v in person(i).values()]


def test_personal_fields_stay_on_the_card_only_until_the_hub_acks(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    kiosk_db = tmp_path / "kiosk.db"
    store = KioskStore(kiosk_db, subject_key=KEY, scrub_interval_s=0.2)
    for i in range(N):
        store.record(with_subject(i))
    on_card = file_bytes(kiosk_db)
    assert all(v in on_card for v in personal_values())  # there for re-sending
    assert [e.subject.name for e in store.outbox(limit=N)] == [person(i)["name"] for i in range(N)]

    hub_db = hub_database(tmp_path / "hub.db")
    hub = start_hub(hub_db, broker.port)
    try:
        with KioskLink(fast_link_config(broker.port), "kiosk-1", store):
            wait_for(drained(store), 30, "the hub's acks")
            # the kiosk's idle loop calls retry_held() every half second: the WAL scrub rides on it
            wait_for(
                lambda: (
                    store.retry_held() == 0 and not any(v in file_bytes(kiosk_db) for v in personal_values())
                ),
                10,
                "no personal field left in the kiosk's files",
            )
    finally:
        hub.stop()
    assert stored_count(hub_db) == N
    with hub_db.begin() as conn:  # the hub got them whole: nothing was scrubbed before the ack
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(events).where(events.c.subject_name.is_not(None))
            ).scalar()
            == N
        )

    kept = store.passages()
    assert [e.subject for e in kept] == [None] * N
    assert [e.extra["subject_id_hash"] for e in kept] == [
        id_hash_hex(KEY, person(i)["id_number"]) for i in range(N)
    ]
    store.close()
    assert not any(v in file_bytes(kiosk_db) for v in personal_values())


def test_passages_acked_by_an_older_version_are_scrubbed_when_the_store_opens(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    kiosk_db = tmp_path / "kiosk.db"
    store = KioskStore(kiosk_db)
    ids = [store.record(with_subject(i)).event_id for i in range(N)]
    store.db.execute("UPDATE passages SET delivered_at = ?", ["2026-11-22T08:00:00.000Z"])  # as before
    store.db.execute("DELETE FROM meta WHERE key = 'scrubbed_on_ack'")
    store.close()
    assert all(v in file_bytes(kiosk_db) for v in personal_values())
    again = KioskStore(kiosk_db, subject_key=KEY)
    assert not any(v in file_bytes(kiosk_db) for v in personal_values())
    assert all(e.subject is None for e in again.passages())
    assert again.mark_delivered(ids, datetime.now(UTC)) == 0
