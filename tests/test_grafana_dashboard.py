"""docs/grafana-kiosk-fleet.json queries only metrics that a running kiosk and hub really expose: a
renamed metric breaks this test, not an operator's dashboard in the field."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from testkit.linkrig import wait_for
from testkit.services import MosquittoBroker
from tests.conftest import REPO_ROOT
from tests.hub.test_metrics import Hub
from tests.kiosk.test_metrics import CCCD, Running, kiosk_config

DASHBOARD = REPO_ROOT / "docs" / "grafana-kiosk-fleet.json"
METRIC = re.compile(r"\b(?:kiosk|hub)_[a-z0-9_]+\b")


def queried_metrics() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in doc["templating"]["list"] if v["type"] == "query"]
    assert len(exprs) > 20
    return {m for e in exprs for m in METRIC.findall(e)}


def test_every_metric_the_dashboard_queries_is_exposed(broker: MosquittoBroker, tmp_path: Path) -> None:
    doc = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    hub = Hub(broker, tmp_path / "hub")
    kiosk = Running(kiosk_config(tmp_path, broker.port, [CCCD]))
    try:
        wait_for(
            lambda: kiosk.scrape().value("kiosk_link_events_acked_total") == 1, 60, "a passage at the hub"
        )
        with urllib.request.urlopen(f"{hub.api}/api/v1/health", timeout=10):
            pass
        exposed = kiosk.scrape().names() | hub.scrape().names()
    finally:
        kiosk.stop()
        hub.stop()
    wanted = queried_metrics()
    assert {"kiosk_verdicts_total", "kiosk_outbox_backlog", "hub_forwarder_backlog"} <= wanted
    assert sorted(wanted - exposed) == []
