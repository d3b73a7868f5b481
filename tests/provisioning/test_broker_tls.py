"""The generated broker configuration, run by a real Mosquitto with certificates from our own CA.

Every "cannot" below is shown at a receiver: Mosquitto drops an unauthorised publish silently (a
QoS 1 publish may still be acknowledged) and, in 2.0, grants any subscription but filters what it
delivers. So a test waits for the forbidden publish to be acknowledged, then for a *control*
message published after it to the same receiver, and asserts that nothing forbidden came first.
No test sleeps and hopes.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.keyfiles import write_private_key
from kiosk.device_identity import make_csr
from provisioning.broker import BrokerFiles, BrokerSettings, decommission, write_broker_config
from provisioning.ca import CertificateAuthority
from testkit.services import MosquittoBroker, broker_files_dir, free_port, mosquitto_file_owner
from wire import topics
from wire.envelope import MAX_ENVELOPE_BYTES, MAX_MQTT_PACKET_BYTES

pytestmark = pytest.mark.timeout(30)

WAIT = 5.0
KIOSKS = ["kiosk-a", "kiosk-b", "kiosk-c"]
HUB = "hub"


@dataclass(frozen=True)
class Identity:
    name: str
    cert: x509.Certificate
    cert_file: Path
    key_file: Path


class Peer:
    """One MQTT connection of a test, with events to wait on. It never reconnects by itself, so a
    dropped session stays visible as dropped."""

    def __init__(
        self,
        fleet: Fleet,
        identity: Identity | None,
        *,
        client_id: str | None = None,
        protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
        tls: bool = True,
    ) -> None:
        self.fleet = fleet
        self.name = client_id or (identity.name if identity else "anonymous")
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.name,
            protocol=protocol,
            reconnect_on_failure=False,
        )
        if tls:
            self.client.tls_set(
                ca_certs=str(fleet.files.cafile),
                certfile=str(identity.cert_file) if identity else None,
                keyfile=str(identity.key_file) if identity else None,
            )
        self.connected = threading.Event()
        self.gone = threading.Event()
        self._settled = threading.Event()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._subacks: dict[int, list[Any]] = {}
        self._subacked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload))
        self.client.on_subscribe = self._on_subscribe
        fleet.peers.append(self)

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self.connected.set()
        self._settled.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        self.gone.set()
        self._settled.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        with self._subacked:
            self._subacks[mid] = codes
            self._subacked.notify_all()

    def connect(self) -> bool:
        """True when the broker accepted us (CONNACK success); False when it refused or hung up.

        With TLS 1.3 a refused client certificate is reported after the client's side of the
        handshake, so the refusal shows as a disconnection before any CONNACK.
        """
        try:
            self.client.connect(self.fleet.broker.host, self.fleet.broker.port, keepalive=30)
        except OSError:  # ssl.SSLError included: refused during the handshake
            return False
        self.client.loop_start()
        assert self._settled.wait(WAIT), f"{self.name}: neither CONNACK nor disconnection"
        return self.connected.is_set() and not self.gone.is_set()

    def subscribe(self, *topic_filters: str) -> list[Any]:
        """Subscribe and wait for the SUBACKs; the reason codes, one per filter."""
        mids = []
        for topic_filter in topic_filters:
            rc, mid = self.client.subscribe(topic_filter, qos=1)
            assert rc == mqtt.MQTT_ERR_SUCCESS
            mids.append(mid)
        with self._subacked:
            assert self._subacked.wait_for(lambda: all(m in self._subacks for m in mids), WAIT)
            return [self._subacks[m][0] for m in mids]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """QoS 1 publish, waiting for the broker's PUBACK: after it the broker has routed (or dropped) it."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"{self.name}: no PUBACK for {topic}"

    def received_until(self, topic: str, payload: bytes) -> list[tuple[str, bytes]]:
        """Everything received before the control message (topic, payload), which must arrive."""
        before: list[tuple[str, bytes]] = []
        while True:
            try:
                message = self.messages.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(
                    f"{self.name}: control {topic} {payload!r} never came; had {before}"
                ) from None
            if message == (topic, payload):
                return before
            before.append(message)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Fleet:
    """A CA, the broker directory written by `write_broker_config`, a Mosquitto running it, clients."""

    def __init__(self, tmp_path: Path, directory: Path) -> None:
        self.tmp = tmp_path
        self.ca = CertificateAuthority.create(tmp_path / "ca")
        self.settings = BrokerSettings(
            port=free_port(), bind_address="127.0.0.1", hostnames=("127.0.0.1",), hub_users=(HUB,)
        )
        self.owner = mosquitto_file_owner()
        self.kiosks = list(KIOSKS)
        self.directory = directory
        self.files: BrokerFiles = self.write()
        self.broker = MosquittoBroker(
            workdir=tmp_path / "run", port=self.settings.port, config_file=self.files.conf
        )
        self.peers: list[Peer] = []
        self._identities: dict[str, Identity] = {}

    def write(self, decommissioned: tuple[str, ...] = ()) -> BrokerFiles:
        return write_broker_config(
            self.directory, self.ca, self.kiosks, self.settings, decommissioned, owner=self.owner
        )

    def identity(self, name: str) -> Identity:
        """A client key made here and a certificate our CA signed from its CSR (as enrollment does)."""
        if name not in self._identities:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = self.ca.sign_client_csr(make_csr(key, name), expected_name=name)
            self._identities[name] = self._save(name, key, cert)
        return self._identities[name]

    def _save(self, name: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Identity:
        directory = self.tmp / "clients"
        key_file = write_private_key(directory / f"{name}.key", key)
        cert_file = directory / f"{name}.crt"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Identity(name, cert, cert_file, key_file)

    def foreign_identity(
        self, label: str, name: str, signer: CertificateAuthority, days: tuple[int, int]
    ) -> Identity:
        """A client certificate for `name` made directly with `signer`'s key, valid from/to the
        given day offsets (negative: in the past), for the certificates the CA would never issue."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(signer.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0]))
            .not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.key.public_key()), critical=False
            )
            .sign(signer.key, hashes.SHA256())
        )
        return self._save(label, key, cert)

    def connected(self, name: str, **kwargs: Any) -> Peer:
        peer = Peer(self, self.identity(name), **kwargs)
        assert peer.connect(), f"{name} could not connect: {self.broker.log_path.read_text()[-1500:]}"
        return peer

    def refused(self, identity: Identity | None, **kwargs: Any) -> bool:
        return not Peer(self, identity, **kwargs).connect()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with broker_files_dir(tmp_path) as directory:  # see there: why not pytest's tmp_path as root
        f = Fleet(tmp_path, directory)
        f.broker.start()
        try:
            yield f
        finally:
            for peer in f.peers:
                peer.close()
            f.broker.kill()


# -- what a kiosk may do ------------------------------------------------------------------------


def test_kiosks_publish_their_own_events_and_status_and_the_hub_reads_them_via_a_shared_subscription(
    fleet: Fleet,
) -> None:
    hub = fleet.connected(HUB)
    hub.subscribe(topics.shared("hub", topics.ALL_EVENTS), topics.ALL_STATUS)
    a = fleet.connected("kiosk-a")
    b = fleet.connected("kiosk-b", protocol=mqtt.MQTTv311)  # contracts.md: 3.1.1 must still work
    a.publish(topics.events("kiosk-a"), b"a-event")
    a.publish(topics.status("kiosk-a"), b"a-status", retain=True)
    b.publish(topics.events("kiosk-b"), b"b-event")

    got = hub.received_until(topics.events("kiosk-b"), b"b-event")
    assert sorted(got) == [(topics.events("kiosk-a"), b"a-event"), (topics.status("kiosk-a"), b"a-status")]


def test_a_kiosk_reads_its_own_acks_and_commands_and_the_fleet_wide_flags_and_trust(fleet: Fleet) -> None:
    a = fleet.connected("kiosk-a")
    # What kiosk/mqtt/link.py subscribes to.
    a.subscribe(topics.acks("kiosk-a"), topics.commands("kiosk-a"), topics.FLAGS_UPDATES, topics.FLAGS_HEAD)
    a.subscribe(topics.TRUST, topics.RULES)
    hub = fleet.connected(HUB)
    hub.publish(topics.acks("kiosk-a"), b"ack")
    hub.publish(topics.commands("kiosk-a"), b"command")
    hub.publish(topics.FLAGS_UPDATES, b"delta")
    hub.publish(topics.FLAGS_HEAD, b"head", retain=True)
    hub.publish(topics.TRUST, b"trust", retain=True)
    hub.publish(topics.RULES, b"rules", retain=True)

    got = a.received_until(topics.RULES, b"rules")
    assert got == [
        (topics.acks("kiosk-a"), b"ack"),
        (topics.commands("kiosk-a"), b"command"),
        (topics.FLAGS_UPDATES, b"delta"),
        (topics.FLAGS_HEAD, b"head"),
        (topics.TRUST, b"trust"),
    ]


# -- what a kiosk may not do --------------------------------------------------------------------


def test_a_kiosk_cannot_publish_events_or_status_as_another_kiosk(fleet: Fleet) -> None:
    hub = fleet.connected(HUB)
    hub.subscribe(topics.ALL_EVENTS, topics.ALL_STATUS)
    a = fleet.connected("kiosk-a")
    b = fleet.connected("kiosk-b")
    a.publish(topics.events("kiosk-b"), b"forged event")
    a.publish(topics.status("kiosk-b"), b"forged status", retain=True)
    b.publish(topics.events("kiosk-b"), b"control")

    assert hub.received_until(topics.events("kiosk-b"), b"control") == []


def test_a_kiosk_cannot_publish_flags_trust_acks_or_commands(fleet: Fleet) -> None:
    a = fleet.connected("kiosk-a")
    a.subscribe(topics.acks("kiosk-a"), topics.commands("kiosk-a"))
    b = fleet.connected("kiosk-b")
    b.subscribe(
        topics.FLAGS_ALL, topics.TRUST, topics.RULES, topics.acks("kiosk-b"), topics.commands("kiosk-b")
    )

    a.publish(topics.FLAGS_UPDATES, b"forged delta")
    a.publish(topics.FLAGS_HEAD, b"forged head", retain=True)
    a.publish(topics.TRUST, b"forged trust", retain=True)
    a.publish(topics.RULES, b"forged rules", retain=True)
    for kiosk in ("kiosk-a", "kiosk-b"):  # not even acks for its own events, nor commands to itself
        a.publish(topics.acks(kiosk), b"forged ack")
        a.publish(topics.commands(kiosk), b"forged command")
    hub = fleet.connected(HUB)
    hub.publish(topics.commands("kiosk-b"), b"control")
    hub.publish(topics.acks("kiosk-a"), b"control")

    assert b.received_until(topics.commands("kiosk-b"), b"control") == []
    assert a.received_until(topics.acks("kiosk-a"), b"control") == []
    # Nothing forged was retained either: a kiosk subscribing now gets only the hub's head.
    hub.publish(topics.FLAGS_HEAD, b"real head", retain=True)
    c = fleet.connected("kiosk-c")
    c.subscribe(topics.TRUST, topics.RULES, topics.FLAGS_HEAD)  # retained messages come in this order
    assert c.received_until(topics.FLAGS_HEAD, b"real head") == []


def test_a_kiosk_cannot_read_another_kiosks_commands_acks_or_events(fleet: Fleet) -> None:
    a = fleet.connected("kiosk-a")
    # Mosquitto 2.0 grants these subscriptions and filters delivery (a later version may refuse
    # them): either way nothing of kiosk-b's may arrive.
    a.subscribe(
        topics.commands("kiosk-b"), topics.acks("kiosk-b"), topics.ALL_COMMANDS, topics.ALL_EVENTS, "#"
    )
    a.subscribe(topics.commands("kiosk-a"))
    hub = fleet.connected(HUB)
    b = fleet.connected("kiosk-b")
    hub.publish(topics.commands("kiosk-b"), b"for b only")
    hub.publish(topics.acks("kiosk-b"), b"for b only")
    b.publish(topics.events("kiosk-b"), b"b's passage")
    b.publish(topics.status("kiosk-b"), b"b's status", retain=True)
    hub.publish(topics.commands("kiosk-a"), b"control")

    got = a.received_until(topics.commands("kiosk-a"), b"control")
    assert [m for m in got if "kiosk-b" in m[0]] == []


def test_a_kiosk_cannot_take_over_the_hubs_connection_by_choosing_its_client_id(fleet: Fleet) -> None:
    hub = fleet.connected(HUB)
    hub.subscribe(topics.ALL_STATUS)
    # Without use_username_as_clientid Mosquitto would close the hub's connection here.
    impostor = fleet.connected("kiosk-b", client_id=HUB)
    a = fleet.connected("kiosk-a")
    a.publish(topics.status("kiosk-a"), b"control", retain=True)

    assert hub.received_until(topics.status("kiosk-a"), b"control") == []
    assert not hub.gone.is_set()
    assert impostor.connected.is_set()


# -- who may connect at all ---------------------------------------------------------------------


@pytest.mark.parametrize("intruder", ["no certificate", "plain tcp", "another CA", "expired"])
def test_only_a_current_certificate_from_our_ca_gets_in(fleet: Fleet, intruder: str) -> None:
    if intruder == "no certificate":
        assert fleet.refused(None)
    elif intruder == "plain tcp":
        assert fleet.refused(None, tls=False)
    elif intruder == "another CA":
        other = CertificateAuthority.create(fleet.tmp / "other-ca", name="Checkpoint Hub CA")
        assert fleet.refused(fleet.foreign_identity("other", "kiosk-a", other, (-1, 30)))
    else:
        assert fleet.refused(fleet.foreign_identity("expired", "kiosk-a", fleet.ca, (-30, -1)))
    fleet.connected("kiosk-a")  # and the broker does let a real kiosk in


def test_a_revoked_certificate_is_refused_once_the_crl_is_renewed_and_the_broker_restarted(
    fleet: Fleet,
) -> None:
    c = fleet.connected("kiosk-c")
    c.close()
    fleet.ca.revoke(fleet.identity("kiosk-c").cert)
    fleet.write()
    fleet.broker.restart()

    assert fleet.refused(fleet.identity("kiosk-c"))
    assert fleet.connected("kiosk-a").connected.is_set()


# -- decommissioning ----------------------------------------------------------------------------


def test_decommissioning_drops_the_kiosks_live_session_and_it_cannot_come_back(fleet: Fleet) -> None:
    c = fleet.connected("kiosk-c")
    c.subscribe(topics.FLAGS_ALL)
    a = fleet.connected("kiosk-a")

    files = decommission(
        [fleet.identity("kiosk-c").cert],
        fleet.ca,
        fleet.directory,
        fleet.kiosks,
        restart=fleet.broker.restart,
        settings=fleet.settings,
        owner=fleet.owner,
    )

    assert c.gone.wait(WAIT), "the decommissioned kiosk is still connected"
    assert fleet.refused(fleet.identity("kiosk-c"))
    assert "user kiosk-c\ntopic deny #" in files.acl.read_text()
    assert a.gone.wait(WAIT)  # a restart drops everyone; the others come straight back
    hub = fleet.connected(HUB)
    hub.subscribe(topics.ALL_EVENTS)
    fleet.connected("kiosk-a").publish(topics.events("kiosk-a"), b"still here")
    assert hub.received_until(topics.events("kiosk-a"), b"still here") == []


def test_a_reload_alone_leaves_a_revoked_kiosks_session_open_which_is_why_decommission_restarts(
    fleet: Fleet,
) -> None:
    """Measured behaviour of Mosquitto 2.0.x behind `decommission`'s choice of a restart."""
    hub = fleet.connected(HUB)
    hub.subscribe(topics.ALL_EVENTS)
    c = fleet.connected("kiosk-c")
    # A second revoked certificate probes for the end of the reload: trying kiosk-c's own would
    # take over its session (client id = CN) while the old CRL still holds.
    probe = fleet.identity("probe")
    fleet.ca.revoke(fleet.identity("kiosk-c").cert)
    fleet.ca.revoke(probe.cert)
    fleet.kiosks.remove("kiosk-c")
    fleet.write(decommissioned=("kiosk-c",))
    fleet.broker.reload()
    for _ in range(50):  # bounded: each try is a full TLS connection attempt
        if fleet.refused(probe):
            break
    else:
        raise AssertionError("after a SIGHUP the broker still accepts a revoked certificate")

    c.publish(topics.events("kiosk-c"), b"after reload")
    fleet.connected("kiosk-a").publish(topics.events("kiosk-a"), b"control")
    assert hub.received_until(topics.events("kiosk-a"), b"control") == []  # muted by the deny block...
    assert not c.gone.is_set()  # ...but still connected


# -- sizes -------------------------------------------------------------------------------------------


def test_an_oversized_publish_is_refused_and_the_largest_signed_document_still_passes(fleet: Fleet) -> None:
    """`max_packet_size` in the generated config: was absent, so Mosquitto took any packet up to its own
    256 MiB ceiling from any kiosk. The hub's largest document (MAX_ENVELOPE_BYTES) must still go out."""
    assert f"max_packet_size {MAX_MQTT_PACKET_BYTES}\n" in fleet.files.conf.read_text()
    kiosk_a = fleet.connected("kiosk-a")
    kiosk_a.subscribe(topics.FLAGS_UPDATES)
    hub = fleet.connected(HUB)
    hub.subscribe(topics.ALL_EVENTS)

    document = b"{" + b"x" * (MAX_ENVELOPE_BYTES - 2) + b"}"
    hub.publish(topics.FLAGS_UPDATES, document)
    assert kiosk_a.received_until(topics.FLAGS_UPDATES, document) == []

    # MQTT 3.1.1, so the client cannot know the limit and sends it: the broker cuts the connection.
    kiosk_b = fleet.connected("kiosk-b", protocol=mqtt.MQTTv311)
    kiosk_b.client.publish(topics.events("kiosk-b"), b"x" * (MAX_MQTT_PACKET_BYTES + 1), qos=1)
    assert kiosk_b.gone.wait(WAIT * 4), "the broker kept a client sending an oversized packet"
    kiosk_a.publish(topics.events("kiosk-a"), b"after")
    assert hub.received_until(topics.events("kiosk-a"), b"after") == []  # the oversized one never came


def test_the_broker_saves_its_sessions_in_the_persistence_directory_not_beside_its_config(
    tmp_path: Path,
) -> None:
    """The hub's layout: configuration read-only under /etc, persistence under /var/lib (here: two
    directories of the test's own; docs/broker.md)."""
    with broker_files_dir(tmp_path) as directory:
        conf_dir, state_dir = directory / "etc", directory / "var-lib"
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)  # mkdtemp's 0700 would keep a root-started broker's `mosquitto` user out
        ca = CertificateAuthority.create(tmp_path / "ca")
        settings = BrokerSettings(
            port=free_port(), bind_address="127.0.0.1", hostnames=("127.0.0.1",), hub_users=(HUB,),
            persistence_dir=str(state_dir),
        )  # fmt: skip
        owner = mosquitto_file_owner()
        files = write_broker_config(conf_dir, ca, KIOSKS, settings, (), owner=owner)
        broker = MosquittoBroker(workdir=tmp_path / "run", port=settings.port, config_file=files.conf)
        broker.start()
        try:
            broker.stop()  # a clean stop saves the persistence file
            deadline = time.monotonic() + 10
            while broker.running and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            broker.kill()
        assert (state_dir / "mosquitto.db").is_file(), list(state_dir.iterdir())
        assert sorted(p.name for p in conf_dir.iterdir()) == sorted(
            p.name
            for p in (files.conf, files.acl, files.cafile, files.crlfile, files.certfile, files.keyfile)
        )
