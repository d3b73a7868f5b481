"""Pure forwarding rules: how answers are read, backoff bounds, deterministic batch keys."""

from __future__ import annotations

import random

import pytest

from hub.registry.policy import Outcome, backoff_delay, batch_key, classify


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.ACCEPTED),
        (201, Outcome.ACCEPTED),
        (202, Outcome.ACCEPTED),
        (409, Outcome.ACCEPTED),
        (None, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (429, Outcome.RETRY),
        (401, Outcome.RETRY),
        (400, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (404, Outcome.REJECTED),
    ],
)
def test_classify(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_backoff_is_full_jitter_growing_and_capped() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(8.0, 0.5 * 2**attempt)
        samples = [backoff_delay(attempt, base_s=0.5, cap_s=8.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: spread over the whole range, not bunched at the top.
        assert min(samples) < ceiling * 0.1 and max(samples) > ceiling * 0.9
    assert backoff_delay(10_000, base_s=0.5, cap_s=8.0, rng=rng) <= 8.0


def test_batch_key_is_deterministic_and_order_sensitive() -> None:
    ids = ["a", "b", "c"]
    assert batch_key(ids) == batch_key(list(ids))
    assert batch_key(ids) != batch_key(["c", "b", "a"])
    assert batch_key(["ab", "c"]) != batch_key(["a", "bc"])
    assert batch_key(ids, salt="replay:1") != batch_key(ids)
    assert len(batch_key(ids)) == 64
