"""Rotating the hub's signing key over a real broker: kiosks accept the next key only when the current
key announces it, a kiosk that was away catches up, the switch waits for every kiosk, the old key is
retired on each kiosk after the switch (also across a kiosk restart), and a forged announcement fails."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.cli import main as hub_cli
from hub.config import load_hub_config
from hub.flags import add_flag
from hub.fleet import record_status
from hub.schema import kiosks
from hub.service import HubService
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from provisioning.keyfiles import write_private_key
from tests.support.linkrig import fast_link_config, wait_for
from tests.support.services import MosquittoBroker
from wire import topics
from wire.envelope import Signed, key_id, seal

PERSON = "001099012345"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RunningHub:
    def __init__(self, config: Path) -> None:
        self.service = HubService(load_hub_config(config))
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()
        assert self.service.ready.wait(20)

    def stop(self) -> None:
        self.service.stop_event.set()
        self.thread.join(20)


class Kiosk:
    def __init__(
        self, broker: MosquittoBroker, path: Path, kiosk_id: str, provisioned: Ed25519PrivateKey
    ) -> None:
        self.applied: list[Signed] = []
        self.link = KioskLink(
            fast_link_config(broker.port),
            kiosk_id,
            KioskStore(path),
            hub_keys=[provisioned.public_key()],
            on_update=self.applied.append,
        ).start()

    def trusts(self) -> list[str]:
        return self.link.hub_keys.kids()


def cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(hub_cli, ["--config", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_key_rotation_end_to_end(broker: MosquittoBroker, tmp_path: Path) -> None:
    k1 = Ed25519PrivateKey.generate()
    write_private_key(tmp_path / "keys" / "hub-signing.pem", k1)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "hub.db"}"\n'
        f'signing_key = "{tmp_path / "keys" / "hub-signing.pem"}"\n'
        f"[mqtt]\nport = {broker.port}\n[http]\nenabled = false\n"
    )
    hub = RunningHub(config)
    a = Kiosk(broker, tmp_path / "a.db", "kiosk-a", k1)
    wait_for(lambda: a.link.connected, 10, "kiosk a to connect")
    assert cli(config, "key", "commit")[0] != 0  # nothing to commit yet

    code, out = cli(config, "key", "rotate")
    assert code == 0, out
    k2 = load_next(tmp_path)
    wait_for(lambda: key_id(k2.public_key()) in a.trusts(), 15, "kiosk a to trust the announced key")
    assert key_id(k1.public_key()) in a.trusts()  # both, until the hub switches

    # A kiosk that is offline and never heard of the next key blocks the switch.
    record_status(
        hub.service.db, "kiosk-c", {"state": "offline", "hub_keys": [key_id(k1.public_key())]}, now=now()
    )
    code, out = cli(config, "key", "commit")
    assert code != 0 and "kiosk-c" in out, out
    with hub.service.db.begin() as conn:  # kiosk-c is decommissioned instead
        conn.execute(sa.delete(kiosks).where(kiosks.c.kiosk_id == "kiosk-c"))

    b = Kiosk(broker, tmp_path / "b.db", "kiosk-b", k1)  # was away during the announcement
    wait_for(lambda: key_id(k2.public_key()) in b.trusts(), 20, "kiosk b to catch up on the announcement")
    wait_for(
        lambda: "2 of 2 kiosks trust" in cli(config, "key", "status")[1], 20, "the fleet view to show both"
    )

    code, out = cli(config, "key", "commit")
    assert code == 0, out
    hub.stop()
    hub = RunningHub(config)  # restarted: now signing with k2
    db = hub.service.db
    add_flag(db, PERSON, "F0", starts_at=now(), actor="test", now=now())
    for kiosk in (a, b):
        wait_for(lambda k=kiosk: k.link.flags.version >= 1, 15, "a flag update signed by k2")
        wait_for(lambda k=kiosk: k.trusts() == [key_id(k2.public_key())], 10, "the old key to be retired")

    rejected = a.link.stats.updates_rejected
    attacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    attacker.connect(broker.host, broker.port)
    attacker.loop_start()
    old = seal(k1, "flags.delta", 99, {"from_version": 1, "added": [], "lifted": []}, now())
    attacker.publish(topics.FLAGS_UPDATES, old, qos=1).wait_for_publish(5)
    k3 = Ed25519PrivateKey.generate()
    forged = seal(k3, "key.rotate", 50, {"next_public_key": "x"}, now())
    attacker.publish(topics.TRUST, forged, qos=1).wait_for_publish(5)
    wait_for(lambda: a.link.stats.updates_rejected >= rejected + 2, 10, "the old key and a forgery refused")
    assert a.trusts() == [key_id(k2.public_key())]
    attacker.loop_stop()

    a.link.stop()
    restarted = Kiosk(broker, tmp_path / "a.db", "kiosk-a", k1)  # provisioned with k1 only
    assert restarted.trusts() == [key_id(k2.public_key())]
    restarted.link.stop()
    b.link.stop()
    hub.stop()


def load_next(tmp_path: Path) -> Ed25519PrivateKey:
    from hub.flag_publisher import load_signing_key

    key = load_signing_key(tmp_path / "keys" / "hub-signing.next.pem")
    assert isinstance(key, Ed25519PrivateKey)
    return key
