"""Drains the registry outbox: in order, in batches, each event accepted once in effect.

One step (`Forwarder.step`) is three phases, each its own short transaction, so no database lock is held
while waiting on the network:

1. claim: take the head of the pending outbox (by id = arrival order). If the head already carries a
   `batch_key`, the batch is exactly the rows with that key (a retry, possibly after a crash); otherwise
   the first `batch_size` pending rows get a new key (hash of their ids) written BEFORE sending.
   Order is kept: nothing behind the head is sent while the head waits for its backoff.
2. send: `POST /v1/passages` with `Idempotency-Key: batch_key`.
3. record: 2xx/409 -> sent. 5xx/timeout/refused -> attempts+1 and next_attempt_at = now + full-jitter
   backoff. Other 4xx -> a batch of several is split into single-event batches (so one bad event does not
   dead-letter its neighbours); a single event goes to `dead_letter` with the registry's reason.

A crash between 2 and 3 leaves the rows pending with their key: the next step re-sends the same batch
under the same key, and the registry answers 409 (counted as accepted).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hub import audit
from hub.db import Database, from_db_time, to_db_time
from hub.registry.client import RegistryClient, Reply
from hub.registry.policy import Outcome, backoff_delay, batch_key, classify
from hub.schema import dead_letter, events, registry_outbox

CLAIM_LOCK = "hub.registry.claim"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForwarderConfig:
    batch_size: int = 100
    base_backoff_s: float = 0.5
    max_backoff_s: float = 60.0
    idle_poll_s: float = 1.0  # how often an empty outbox is looked at again


@dataclass(frozen=True)
class Batch:
    key: str
    outbox_ids: list[int]
    event_ids: list[str]
    attempts: int


@dataclass(frozen=True)
class StepResult:
    """What one step did. `wait_until` says when there may be work again (None: immediately)."""

    kind: str  # idle | waiting | sent | retry | split | dead
    event_ids: list[str] = field(default_factory=list)
    wait_until: dt.datetime | None = None
    reply: Reply | None = None


@dataclass
class Forwarder:
    db: Database
    client: RegistryClient
    config: ForwarderConfig = field(default_factory=ForwarderConfig)
    rng: random.Random = field(default_factory=random.Random)

    # -- phase 1 -------------------------------------------------------------------------------------
    def claim(self, now: dt.datetime) -> Batch | StepResult:
        """The batch to send now, or why there is none (idle / head still backing off)."""
        o = registry_outbox
        with self.db.begin() as conn:
            self.db.lock_in_transaction(conn, CLAIM_LOCK)
            head = conn.execute(
                sa.select(o.c.id, o.c.batch_key, o.c.next_attempt_at)
                .where(o.c.state == "pending")
                .order_by(o.c.id)
                .limit(1)
            ).first()
            if head is None:
                return StepResult("idle", wait_until=now + dt.timedelta(seconds=self.config.idle_poll_s))
            due = from_db_time(head.next_attempt_at)
            assert due is not None
            if due > now:
                return StepResult("waiting", wait_until=due)
            rows: Sequence[Any]  # rows of (id, event_id, attempts[, batch_key])
            if head.batch_key is not None:
                rows = conn.execute(
                    sa.select(o.c.id, o.c.event_id, o.c.attempts)
                    .where(o.c.state == "pending", o.c.batch_key == head.batch_key)
                    .order_by(o.c.id)
                ).all()
                key = head.batch_key
            else:
                rows = conn.execute(
                    sa.select(o.c.id, o.c.event_id, o.c.attempts, o.c.batch_key)
                    .where(o.c.state == "pending")
                    .order_by(o.c.id)
                    .limit(self.config.batch_size)
                ).all()
                rows = _until_first_keyed(rows)
                key = batch_key([r.event_id for r in rows])
                conn.execute(sa.update(o).where(o.c.id.in_([r.id for r in rows])).values(batch_key=key))
        return Batch(key, [r.id for r in rows], [r.event_id for r in rows], max(r.attempts for r in rows))

    # -- phase 2 -------------------------------------------------------------------------------------
    def send(self, batch: Batch) -> Reply:
        """POST the batch's events, exactly as the kiosks sent them."""
        with self.db.begin() as conn:
            q = sa.select(events.c.event_id, events.c.body).where(events.c.event_id.in_(batch.event_ids))
            bodies = {r.event_id: r.body for r in conn.execute(q)}
        return self.client.post_passages([_as_dict(bodies[i]) for i in batch.event_ids], batch.key)

    # -- phase 3 -------------------------------------------------------------------------------------
    def record(self, batch: Batch, reply: Reply, now: dt.datetime) -> StepResult:
        """Apply the registry's answer to the outbox (see module docstring)."""
        o = registry_outbox
        outcome = classify(reply.status)
        rows = o.c.id.in_(batch.outbox_ids)
        with self.db.begin() as conn:
            if outcome is Outcome.ACCEPTED:
                conn.execute(
                    sa.update(o).where(rows).values(state="sent", sent_at=to_db_time(now), last_error=None)
                )
                return StepResult("sent", batch.event_ids, reply=reply)
            if outcome is Outcome.RETRY:
                delay = backoff_delay(
                    batch.attempts,
                    base_s=self.config.base_backoff_s,
                    cap_s=self.config.max_backoff_s,
                    rng=self.rng,
                )
                due = now + dt.timedelta(seconds=delay)
                conn.execute(
                    sa.update(o)
                    .where(rows)
                    .values(
                        attempts=o.c.attempts + 1,
                        next_attempt_at=to_db_time(due),
                        last_error=_describe(reply),
                    )
                )
                return StepResult("retry", batch.event_ids, wait_until=due, reply=reply)
            if len(batch.event_ids) > 1:
                # Find the refused event(s): re-send one by one, each under its own persisted key.
                for oid, eid in zip(batch.outbox_ids, batch.event_ids, strict=True):
                    conn.execute(sa.update(o).where(o.c.id == oid).values(batch_key=batch_key([eid])))
                return StepResult("split", batch.event_ids, reply=reply)
            conn.execute(sa.update(o).where(rows).values(state="dead", last_error=_describe(reply)))
            conn.execute(
                sa.insert(dead_letter).values(
                    event_ids=batch.event_ids,
                    idempotency_key=batch.key,
                    status_code=int(reply.status or 0),
                    reason=_reason(reply),
                    response_body=reply.body[:65536],
                    created_at=to_db_time(now),
                )
            )
            return StepResult("dead", batch.event_ids, reply=reply)

    def step(self, now: dt.datetime, clock: Callable[[], dt.datetime] | None = None) -> StepResult:
        """Claim, send and record one batch. `clock` (if given) stamps the record phase after the send."""
        claimed = self.claim(now)
        if isinstance(claimed, StepResult):
            return claimed
        reply = self.send(claimed)
        return self.record(claimed, reply, clock() if clock else now)

    def run(
        self, stop: threading.Event, clock: Callable[[], dt.datetime], beat: Callable[[], None] = lambda: None
    ) -> None:
        """Forward until `stop` is set; sleeps (interruptibly) while idle or backing off.

        `beat` is called at least every second, also while backing off from a registry outage: the
        watchdog restarts a hung forwarder, not one that is waiting on purpose."""
        db_failures = 0

        def pause(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                beat()
                stop.wait(min(1.0, left))

        while not stop.is_set():
            beat()
            try:
                result = self.step(clock(), clock)
                db_failures = 0
            except sa.exc.DBAPIError as exc:
                # The database is down or failing over: nothing was marked, so nothing is lost. Wait, retry.
                delay = backoff_delay(
                    db_failures,
                    base_s=self.config.base_backoff_s,
                    cap_s=self.config.max_backoff_s,
                    rng=self.rng,
                )
                db_failures += 1
                log.warning("registry forwarder: database error, retrying in %.1fs: %s", delay, exc)
                pause(delay)
                continue
            if result.kind == "dead":
                log.warning("registry refused event(s) %s: moved to dead_letter", result.event_ids)
            if result.wait_until is not None:
                wait_s = (result.wait_until - clock()).total_seconds()
                pause(max(0.0, min(wait_s, self.config.max_backoff_s)))


def _until_first_keyed(rows: Sequence[Any]) -> list[Any]:
    """Stop a new batch before a row that already belongs to another batch (order and keys stay intact)."""
    out = []
    for r in rows:
        if r.batch_key is not None:
            break
        out.append(r)
    return out


def _as_dict(body: Any) -> dict[str, Any]:
    return json.loads(body) if isinstance(body, str) else dict(body)


def _reason(reply: Reply) -> str:
    """The registry's own words if it gave a JSON `error`, else the start of the body."""
    try:
        parsed = json.loads(reply.body)
    except ValueError:
        return reply.body[:500] or f"HTTP {reply.status}"
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed["error"]
    return reply.body[:500]


def _describe(reply: Reply) -> str:
    return reply.error or f"HTTP {reply.status}: {_reason(reply)}"


def replay_dead_letter(db: Database, dead_letter_id: int, *, now: dt.datetime, actor: str) -> list[str]:
    """Put a dead letter's events back at the head of the outbox (after an operator fixed the cause).

    They get a fresh key (salted with the dead letter's id): a registry that cached its refusal per key
    would otherwise refuse them again. Returns the event ids re-queued; the replay is audited.
    """
    o = registry_outbox
    with db.begin() as conn:
        row = conn.execute(sa.select(dead_letter).where(dead_letter.c.id == dead_letter_id)).first()
        if row is None:
            raise KeyError(f"no dead letter {dead_letter_id}")
        if row.replayed_at is not None:
            raise ValueError(f"dead letter {dead_letter_id} was already replayed at {row.replayed_at}")
        ids = list(row.event_ids)
        conn.execute(
            sa.update(o)
            .where(o.c.event_id.in_(ids), o.c.state == "dead")
            .values(
                state="pending",
                attempts=0,
                next_attempt_at=to_db_time(now),
                batch_key=batch_key(ids, salt=f"replay:{dead_letter_id}"),
            )
        )
        conn.execute(
            sa.update(dead_letter)
            .where(dead_letter.c.id == dead_letter_id)
            .values(replayed_at=to_db_time(now))
        )
        audit.record(conn, now, actor, "dead_letter.replay", {"id": dead_letter_id, "event_ids": ids})
    return ids


def list_dead_letters(db: Database, *, include_replayed: bool = False) -> list[dict[str, Any]]:
    """Dead letters for operators, oldest first."""
    q = sa.select(dead_letter).order_by(dead_letter.c.id)
    if not include_replayed:
        q = q.where(dead_letter.c.replayed_at.is_(None))
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
