"""Pure forwarding decisions: batch keys, how to read a registry answer, how long to back off.

No I/O and no clock here, so the scheduling rules are tested directly (tests/hub/test_registry_policy.py).
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Sequence


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # 2xx, or 409 (the registry already had it: counts as accepted)
    RETRY = "retry"  # 5xx, timeout, refused, or a 4xx that is the hub's or network's fault, not the events'
    REJECTED = "rejected"  # any other 4xx: the events themselves are refused -> dead letter


# 4xx answers that say nothing about the events: retry them rather than dead-letter the whole outbox.
# 401/403: the hub's token is wrong or expired (an operator fixes config); 408/425/429: try later.
RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})


def classify(status: int | None) -> Outcome:
    """Map an HTTP status (None = no answer: timeout, refused, reset) to what the forwarder does."""
    if status is None or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300 or status == 409:
        return Outcome.ACCEPTED
    if status in RETRYABLE_4XX or status < 200 or 300 <= status < 400:
        return Outcome.RETRY
    return Outcome.REJECTED


def batch_key(event_ids: Sequence[str], salt: str = "") -> str:
    """Idempotency-Key for a batch: a hash of its ordered event ids, so a re-send reuses it.

    `salt` makes a new key for a deliberate re-send (dead-letter replay), which a registry that caches
    its answer per key would otherwise refuse again.
    """
    h = hashlib.sha256(salt.encode() + b"\x00")
    for event_id in event_ids:
        h.update(event_id.encode() + b"\n")
    return h.hexdigest()


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """'Full jitter' exponential backoff: uniform in [0, min(cap, base * 2**attempt)].

    Jitter spreads many hubs' retries after a registry outage instead of hitting it in lockstep;
    the cap bounds the wait so delivery resumes soon after the registry is back.
    """
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 32)))
    return rng.uniform(0.0, ceiling)
