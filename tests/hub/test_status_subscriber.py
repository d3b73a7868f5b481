"""`hub serve` has one kiosk-status subscriber, not one per purpose (issue 15 item 3): the flag
publisher's connection decodes each status once (wire/status.py), the fleet view records it, and a
status that breaks the contract is refused and counted, not stored. Real Mosquitto, in-process hub."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private_key
from hub.config import load_hub_config
from hub.fleet import fleet_view
from hub.service import HubService
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from testkit.linkrig import fast_link_config, passage_fields, wait_for
from testkit.services import MosquittoBroker
from wire import topics


def test_one_status_subscriber_records_the_fleet_and_refuses_bad_statuses(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    write_private_key(tmp_path / "hub-signing.pem", Ed25519PrivateKey.generate())
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "hub.db"}"\n'
        f'signing_key = "{tmp_path / "hub-signing.pem"}"\n'
        f"[mqtt]\nport = {broker.port}\nworkers = 2\n[http]\nenabled = false\n"
    )
    service = HubService(load_hub_config(config))
    clients = [*(w.mqtt for w in service.workers), service.publisher.mqtt]
    subscribers = [c for c in clients if any(r.topic_filter == topics.ALL_STATUS for r in c.routes)]
    assert subscribers == [service.publisher.mqtt]
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(20)
    store = KioskStore(tmp_path / "kiosk.db")
    store.record(passage_fields(1))
    link = KioskLink(fast_link_config(broker.port), "kiosk-1", store).start()
    try:

        def seen() -> dict[str, object]:
            now = datetime.now(UTC)
            return {k["kiosk_id"]: k for k in fleet_view(service.db, now=now, stale_after_s=60)}

        wait_for(lambda: seen().get("kiosk-1", {}).get("backlog") == 0, 30, "kiosk-1 online with nothing due")
        kiosk = seen()["kiosk-1"]
        assert kiosk["online"] is True and kiosk["software"]
        liar = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="liar", protocol=mqtt.MQTTv5)
        liar.connect(broker.host, broker.port)
        liar.loop_start()
        liar.publish(topics.status("kiosk-9"), b'{"state": "online", "backlog": -5}', qos=1).wait_for_publish(
            5
        )
        liar.loop_stop()
        liar.disconnect()
        wait_for(lambda: service.publisher.refused_statuses == 1, 10, "the bad status to be refused")
        assert "kiosk-9" not in seen()
        assert sum(c.handler_errors.total() for c in clients) == 0
    finally:
        link.stop()
        service.stop_event.set()
        thread.join(30)
