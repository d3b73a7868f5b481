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
`store_events` refuses events claiming another kiosk_id: one kiosk cannot write another's log.
Events are stored in each kiosk's `seq` order (`in_order`): a batch the broker delivered ahead of a
lost one waits until the kiosk re-sends the missing passages.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.liveness import CallbackErrors, Heartbeats, guarded
from hub.db import Database
from hub.ingest import store_many
from wire import topics
from wire.errors import WireError
from wire.events import decode_batch, encode_ack

log = logging.getLogger(__name__)

# How long a batch ahead of its kiosk's log waits for its predecessor. Waiting costs nothing but a retry
# per group, and giving up early is dear: the kiosk then re-sends only after its ack timeout (15 s).
GAP_WAIT_S = 5.0
GAP_RETRY_S = 0.01  # how often it is tried again while nothing else arrives
MAX_STATUS_BYTES = 64 * 1024  # a kiosk's status is a few hundred bytes
MAX_GROUP_MESSAGES = 20  # messages committed together when they queue up behind a commit


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
        on_status: Callable[[str, dict[str, Any]], None] | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.db = db
        self.heartbeats = heartbeats if heartbeats is not None else Heartbeats()
        self.callback_errors = CallbackErrors()
        self.dead_lettered = 0  # valid events the database refused: kept in event_rejects, acked
        self.refused_messages = 0  # messages that were not a batch of events at all (not JSON, too big)
        self._clock = clock
        # A database error while writing a status row is counted here and the status dropped (the
        # kiosk sends another within its status interval); before, it ended paho's network thread.
        self._on_status = guarded("ingest.on_status", self.callback_errors, on_status) if on_status else None
        if not 0 <= partition < partitions:
            raise ValueError(f"partition {partition} of {partitions}")
        self._partition, self._partitions = partition, partitions
        group = topics.partition_group(group, partition, partitions)
        self._subscription = topics.shared(group, topics.ALL_EVENTS) if shared else topics.ALL_EVENTS
        self.stored_messages = 0
        self.acked_events = 0  # for metrics (hub/metrics.py): the ingest rate in events
        self.errors = 0
        self.gap_waits = 0
        # The network thread only decodes and queues; one storer thread commits and acks, so paho keeps
        # reading (and PUBACKing) while the database works, and a commit serves every message queued.
        self._inbox: queue.Queue[tuple[str, list[Any]]] = queue.Queue()
        self._stopping = threading.Event()
        self._storer = threading.Thread(target=self._store_loop, name=f"{client_id}-store", daemon=True)
        self._store_name = f"{client_id}-store"
        self.connected = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if tls:
            self._client.tls_set(ca_certs=tls["ca_file"], certfile=tls["cert_file"], keyfile=tls["key_file"])
        self._client.reconnect_delay_set(0.2, 10)
        # Guarded: paho re-raises a callback's exception, which would end its network thread.
        errors = self.callback_errors
        self._client.on_connect = guarded("ingest.on_connect", errors, self._on_connect)
        self._client.on_disconnect = guarded(
            "ingest.on_disconnect", errors, lambda *_a: self.connected.clear()
        )
        self._client.on_message = guarded("ingest.on_message", errors, self._on_message)
        self._host, self._port, self._expiry = host, port, session_expiry_s

    def start(self) -> IngestWorker:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._expiry
        self._client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self._storer.start()
        self._client.loop_start()
        return self

    def problems(self) -> list[str]:
        """What keeps the watchdog from being pinged: a thread of this worker that has ended."""
        if self._stopping.is_set():
            return []
        # paho keeps its network thread in `_thread` (no public accessor); with every callback guarded
        # only a bug in paho itself could end it, but then nothing would be read: worth a restart.
        network = getattr(self._client, "_thread", None)
        threads = [self._storer, *([network] if isinstance(network, threading.Thread) else [])]
        return [f"{t.name} has ended" for t in threads if not t.is_alive()]

    def queued(self) -> int:
        """Messages received and waiting for the next commit: this partition's lag (hub/metrics.py)."""
        return self._inbox.qsize()

    def stop(self) -> None:
        """Stop taking messages; what is still queued is not acked (the kiosks will re-send it)."""
        self._stopping.set()
        if self._storer.is_alive():
            self._storer.join(10)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("hub ingest: connection refused: %s", reason)
            return
        client.subscribe(self._subscription, qos=1)
        if self._on_status is not None:
            client.subscribe(topics.ALL_STATUS, qos=1)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        parsed = topics.parse_kiosk_topic(message.topic)
        if parsed is None:
            return
        kiosk_id, channel = parsed
        if channel == "status":
            self._status(kiosk_id, message.payload)
            return
        if self._partitions > 1 and topics.kiosk_partition(kiosk_id, self._partitions) != self._partition:
            return  # another worker's kiosk: its partition's group got the same message
        try:  # the wire's size and batch limits; each event is validated on its own when stored
            batch = decode_batch(message.payload)
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
        waiting: list[tuple[float, str, list[Any]]] = []  # (give up at, kiosk, events still deferred)
        while not self._stopping.is_set():
            self.heartbeats.beat(self._store_name)
            try:
                waiting = self._store_pass(waiting)
            except Exception:  # a bug must not end the worker: what was not acked is re-sent
                log.exception("hub ingest: a pass of the store loop failed")
                self.errors += 1
                waiting = []
        self.heartbeats.forget(self._store_name)

    def _store_pass(self, waiting: list[tuple[float, str, list[Any]]]) -> list[tuple[float, str, list[Any]]]:
        """One group: take what queued up, store it in one transaction, ack; returns what still waits."""
        group: list[tuple[str, list[Any]]] = [(k, b) for _, k, b in waiting]
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
        still_waiting: list[tuple[float, str, list[Any]]] = []
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
                still = [e for e in batch if isinstance(e, dict) and e.get("event_id") in deferred]
                still_waiting.append((give_up, kiosk_id, still))
        for kiosk_id, acked in acks.items():
            if acked:
                self._client.publish(topics.acks(kiosk_id), encode_ack(acked), qos=1)
        return still_waiting

    def _status(self, kiosk_id: str, payload: bytes) -> None:
        if self._on_status is None or not payload or len(payload) > MAX_STATUS_BYTES:
            return
        try:
            status = json.loads(payload)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, absurd numbers or nesting
            return
        if isinstance(status, dict):
            self._on_status(kiosk_id, status)
