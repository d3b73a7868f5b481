"""The hub's Prometheus endpoint, scraped over HTTP from a running `HubService` (issue 15, item 6): ingest
per partition, the forwarder's backlog, refused messages, API latencies by route template."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private_key
from hub.config import load_hub_config
from hub.service import HubService
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import drained, fast_link_config, passage_fields, wait_for
from testkit.services import MosquittoBroker
from tests.support.scrape import Scrape, scrape
from wire import topics


class Hub:
    def __init__(self, broker: MosquittoBroker, tmp_path: Path) -> None:
        write_private_key(tmp_path / "hub-signing.pem", Ed25519PrivateKey.generate())
        config = tmp_path / "hub.toml"
        config.write_text(
            f'database_url = "sqlite:///{tmp_path / "hub.db"}"\n'
            f'signing_key = "{tmp_path / "hub-signing.pem"}"\n'
            f"[mqtt]\nport = {broker.port}\nworkers = 2\n[http]\nport = 0\n[metrics]\nport = 0\n"
        )
        self.service = HubService(load_hub_config(config))
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()
        assert self.service.ready.wait(20)
        assert self.service.api is not None and self.service.metrics_server.url is not None
        self.api = self.service.api.url
        self.url = self.service.metrics_server.url
        wait_for(lambda: all(w.connected.is_set() for w in self.service.workers), 20, "ingest connected")

    def scrape(self) -> Scrape:
        return scrape(self.url)

    def stop(self) -> None:
        self.service.stop_event.set()
        self.thread.join(20)


@pytest.fixture
def hub(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Hub]:
    h = Hub(broker, tmp_path)
    yield h
    h.stop()


def test_ingest_figures_move_with_traffic_per_partition(
    hub: Hub, broker: MosquittoBroker, tmp_path: Path
) -> None:
    before = hub.scrape()
    assert {d["partition"] for d in before.labels_of("hub_ingest_queued_messages")} == {"0", "1"}
    assert before.value("hub_ingest_events_acked_total") == 0
    assert before.value("hub_database_up") == 1
    stores = [KioskStore(tmp_path / f"{k}.db") for k in ("kiosk-1", "kiosk-2", "kiosk-3")]
    links = []
    for i, store in enumerate(stores, 1):
        for n in range(4):
            store.record(passage_fields(n, f"kiosk-{i}"))
        links.append(KioskLink(fast_link_config(broker.port), f"kiosk-{i}", store).start())
    try:
        for store in stores:
            wait_for(drained(store), 60, "every passage acked")
    finally:
        for link in links:
            link.stop()
    after = hub.scrape()
    assert after.value("hub_ingest_events_acked_total") >= 12  # a re-send is acked again
    assert after.value("hub_ingest_messages_total") >= 3
    assert after.value("hub_forwarder_backlog") == 12  # no registry configured: all wait to be forwarded
    assert after.value("hub_kiosks_known") == 3
    assert after.value("hub_ingest_queued_messages") == 0


def test_a_message_that_is_not_a_batch_is_counted_as_refused(hub: Hub, broker: MosquittoBroker) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topics.events("kiosk-9"), b"not json at all", qos=1).wait_for_publish(10)
        wait_for(lambda: hub.scrape().value("hub_ingest_refused_messages_total") == 1, 30, "the refusal")
    finally:
        client.loop_stop()
        client.disconnect()


def _get(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_api_latencies_are_labelled_by_route_template_never_by_the_raw_path(hub: Hub) -> None:
    assert _get(f"{hub.api}/api/v1/health") == 200
    assert _get(f"{hub.api}/api/v1/dead-letters/987654/replay", "POST") == 401
    m = hub.scrape()
    assert m.value("hub_api_request_seconds_count", route="/api/v1/health", status="2xx", method="GET") == 1
    replay = "/api/v1/dead-letters/{dead_letter_id}/replay"
    assert m.value("hub_api_request_seconds_count", route=replay, status="4xx", method="POST") == 1
    for labels in m.labels_of("hub_api_request_seconds_count"):
        assert "987654" not in labels["route"]
