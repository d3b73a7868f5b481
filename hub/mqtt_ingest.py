"""The hub's MQTT side of ingest: events in, durable commit, acks out.

Several hub workers split the kiosks between them: worker i of N owns the kiosks whose id hashes to
partition i (`wire.topics.kiosk_partition`) and joins its partition's shared subscription
(`$share/hub-p<i>-of-<N>/...`; a second member of a group would still be correct, only slower). Each
partition's group receives every event message and the worker drops the ones of kiosks it does not
own. Why not one group for all: the hub stores each kiosk's passages in seq order, which locks that
kiosk's row until commit; with one group, every worker's commit touched most kiosks and the workers
took turns (measured: 2 workers no faster than 1). Owning kiosks, workers never touch the same one.
Messages are stored (one transaction per group of queued messages) and only then acked to the kiosk,
so an ack always means "on the hub's disk". A worker that dies before the commit never acks: the kiosk
re-sends, and the hub's unique `event_id` makes the second copy a no-op.

The kiosk id comes from the topic, which the broker's ACL ties to the client certificate, and
`hub.ingest.store_many` refuses events claiming another kiosk_id: one kiosk cannot write another's log.
Events are stored in each kiosk's `seq` order (`in_order`): a batch the broker delivered ahead of a
lost one waits until the kiosk re-sends the missing passages.

The connection is the process's one MQTT wrapper (common/mqttclient.py: reconnects with jitter, the
subscription re-made on each, handler errors counted in `callback_errors`); events are decoded by
`wire.events.decode_events`, the one parser of the contract. Kiosk status messages are not read here:
the hub process has one status subscriber (the flag publisher's connection, hub/flag_publisher.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from common.liveness import CallbackErrors, Heartbeats
from common.mqttclient import ClientSettings, MqttClient, TlsFiles
from hub.db import Database
from hub.ingest import store_many
from wire import topics
from wire.errors import WireError
from wire.events import DecodedEvent, decode_events, encode_ack

log = logging.getLogger(__name__)

# How long a batch ahead of its kiosk's log waits for its predecessor. Waiting costs nothing but a retry
# per group, and giving up early is dear: the kiosk then re-sends only after its ack timeout (15 s).
GAP_WAIT_S = 5.0
GAP_RETRY_S = 0.01  # how often it is tried again while nothing else arrives
MAX_GROUP_MESSAGES = 20  # messages committed together when they queue up behind a commit

Batch = list[DecodedEvent]


class IngestWorker:
    def __init__(
        self,
        db: Database,
        host: str,
        port: int,
        client_id: str = "hub-ingest-1",
        group: str = "hub",
        shared: bool = True,
        partition: int = 0,
        partitions: int = 1,
        session_expiry_s: int = 3600,
        tls: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.db = db
        self.heartbeats = heartbeats if heartbeats is not None else Heartbeats()
        self.callback_errors = CallbackErrors()  # the MQTT handlers' errors, counted (common.mqttclient)
        self.dead_lettered = 0  # valid events the database refused: kept in event_rejects, acked
        self.refused_messages = 0  # messages that were not a batch of events at all (not JSON, too big)
        self._clock = clock
        if not 0 <= partition < partitions:
            raise ValueError(f"partition {partition} of {partitions}")
        self._partition, self._partitions = partition, partitions
        group = topics.partition_group(group, partition, partitions)
        self.stored_messages = 0
        self.acked_events = 0  # for metrics (hub/metrics.py): the ingest rate in events
        self.errors = 0
        self.gap_waits = 0
        # The network thread only decodes and queues; one storer thread commits and acks, so the network
        # thread keeps reading (and PUBACKing) while the database works, and a commit serves every
        # message queued.
        self._inbox: queue.Queue[tuple[str, Batch]] = queue.Queue()
        self._stopping = threading.Event()
        self._storer = threading.Thread(target=self._store_loop, name=f"{client_id}-store", daemon=True)
        self._store_name = f"{client_id}-store"
        settings = ClientSettings(
            client_id=client_id,
            host=host,
            port=port,
            session_expiry_s=session_expiry_s,  # events queued for us while we restart are kept
            tls=TlsFiles(**tls) if tls else None,
        )
        self.mqtt = MqttClient(
            settings, name=client_id, heartbeats=self.heartbeats, errors=self.callback_errors
        )
        subscription = topics.shared(group, topics.ALL_EVENTS) if shared else topics.ALL_EVENTS
        self.mqtt.route(subscription, self._on_events, name="ingest.on_message")
        self.connected = self.mqtt.connected

    def start(self) -> IngestWorker:
        self._storer.start()
        self.mqtt.start()
        return self

    def problems(self) -> list[str]:
        """What keeps the watchdog from being pinged: a thread of this worker that has ended (a hung one
        stops beating its heartbeat, which the service checks)."""
        if self._stopping.is_set():
            return []
        return [f"{self._storer.name} has ended"] * (not self._storer.is_alive()) + self.mqtt.problems()

    def queued(self) -> int:
        """Messages received and waiting for the next commit: this partition's lag (hub/metrics.py)."""
        return self._inbox.qsize()

    def stop(self) -> None:
        """Stop taking messages; what is still queued is not acked (the kiosks will re-send it)."""
        self._stopping.set()
        if self._storer.is_alive():
            self._storer.join(10)
        self.mqtt.stop()

    def _on_events(self, message: mqtt.MQTTMessage) -> None:
        parsed = topics.parse_kiosk_topic(message.topic)
        if parsed is None:
            return
        kiosk_id = parsed[0]
        if self._partitions > 1 and topics.kiosk_partition(kiosk_id, self._partitions) != self._partition:
            return  # another worker's kiosk: its partition's group got the same message
        try:  # the wire's size and batch limits, and each event checked on its own (wire.events)
            batch = decode_events(message.payload, one_by_one=True)
        except WireError as exc:
            log.warning("hub ingest: message from %s dropped: %s", kiosk_id, exc)
            self.errors += 1
            self.refused_messages += 1
            return
        self._inbox.put((kiosk_id, batch))

    def _store_loop(self) -> None:
        """Commit what arrived while the last commit ran, as one group: one transaction, then the acks.

        A batch ahead of its kiosk's log (a broker restart lost its predecessor, or a second member of
        this partition's group is committing it) is not slept on: it rides along with the next groups
        for up to GAP_WAIT_S while this worker goes on storing other messages; if the predecessor
        never comes, the batch stays unacked and the kiosk's go-back-N re-sends it.
        """
        waiting: list[tuple[float, str, Batch]] = []  # (give up at, kiosk, events still deferred)
        while not self._stopping.is_set():
            self.heartbeats.beat(self._store_name)
            try:
                waiting = self._store_pass(waiting)
            except Exception:  # a bug must not end the worker: what was not acked is re-sent
                log.exception("hub ingest: a pass of the store loop failed")
                self.errors += 1
                waiting = []
        self.heartbeats.forget(self._store_name)

    def _store_pass(self, waiting: list[tuple[float, str, Batch]]) -> list[tuple[float, str, Batch]]:
        """One group: take what queued up, store it in one transaction, ack; returns what still waits."""
        group: list[tuple[str, Batch]] = [(k, b) for _, k, b in waiting]
        try:
            group.append(self._inbox.get(timeout=GAP_RETRY_S if waiting else 0.2))
        except queue.Empty:
            if not waiting:
                return []
        while len(group) < MAX_GROUP_MESSAGES:
            try:
                group.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        deadlines = [d for d, _, _ in waiting]
        try:
            results = store_many(self.db, group, now=self._clock(), in_order=True)
        except Exception:  # the database is down or full: do not ack, the kiosks will re-send
            log.exception("hub ingest: storing %d messages failed", len(group))
            self.errors += len(group)
            return []
        self.stored_messages += len(group) - len(deadlines)
        now = time.monotonic()
        acks: dict[str, list[str]] = {}
        still_waiting: list[tuple[float, str, Batch]] = []
        for i, ((kiosk_id, batch), result) in enumerate(zip(group, results, strict=True)):
            acks.setdefault(kiosk_id, []).extend(result.acked)
            self.acked_events += len(result.acked)
            self.dead_lettered += len(result.dead_lettered)
            if not result.deferred:
                continue
            give_up = deadlines[i] if i < len(deadlines) else now + GAP_WAIT_S
            if now < give_up:
                self.gap_waits += 1
                deferred = set(result.deferred)
                still = [e for e in batch if isinstance(e.raw, dict) and e.raw.get("event_id") in deferred]
                still_waiting.append((give_up, kiosk_id, still))
        for kiosk_id, acked in acks.items():
            if acked:
                self.mqtt.publish(topics.acks(kiosk_id), encode_ack(acked), qos=1)
        return still_waiting
