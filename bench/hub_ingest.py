"""Hub ingest throughput on SQLite, as a ratio to a baseline measured in the same run.

Baseline: raw sqlite3 `executemany` of the same rows into a bare table in one transaction (the floor
any validated, de-duplicated, outboxed ingest can approach). Measured: `hub.ingest.store_events` in
batches of 50 (a kiosk's typical MQTT batch), each its own durable transaction.

Run: `.venv/bin/python bench/hub_ingest.py [N]`; the last line is the result.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.db import open_database
from hub.ingest import store_events
from hub.schema import migrate
from testkit.hub_events import T0, make_event


def main(n: int = 5000, batch: int = 50) -> None:
    evs = [make_event(i, kiosk=f"k{i % 20}") for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        raw = sqlite3.connect(Path(tmp) / "raw.db")
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE e (event_id TEXT PRIMARY KEY, body TEXT)")
        t = time.perf_counter()
        for i in range(0, n, batch):
            with raw:
                raw.executemany(
                    "INSERT INTO e VALUES (?, ?)",
                    [(e["event_id"], json.dumps(e)) for e in evs[i : i + batch]],
                )
        baseline = time.perf_counter() - t
        raw.close()

        db = open_database(f"sqlite:///{Path(tmp) / 'hub.db'}")
        migrate(db, T0)
        t = time.perf_counter()
        for i in range(0, n, batch):
            store_events(db, evs[i : i + batch], now=T0)
        measured = time.perf_counter() - t
        db.dispose()
    print(f"baseline raw sqlite3: {n / baseline:,.0f} events/s; store_events: {n / measured:,.0f} events/s")
    print(
        f"hub_ingest sqlite batch={batch}: {measured / baseline:.1f}x baseline time "
        f"({n / measured:,.0f} events/s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
