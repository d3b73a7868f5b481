"""The flag-list row changes and digest shared by hub and kiosk, against plain Python references."""

from __future__ import annotations

import random

import numpy as np

from wire import flagdigest, flagrows

SEED = flagdigest.digest_seed(b"test-key-0123456789")


def test_planned_row_changes_equal_a_dict_of_the_same_changes() -> None:
    rng = random.Random(1)
    for _ in range(200):
        ref = {rng.randrange(1 << 64): rng.randrange(1, 5) for _ in range(rng.randrange(0, 60))}
        h = np.array(sorted(ref), dtype=np.uint64)
        s = np.array([ref[k] for k in sorted(ref)], dtype=np.uint8)
        changes: dict[int, int | None] = {}
        for _ in range(rng.randrange(0, 30)):
            key = rng.choice(list(ref)) if ref and rng.random() < 0.6 else rng.randrange(1 << 64)
            changes[key] = None if rng.random() < 0.4 else rng.randrange(1, 5)
        keys = np.array(sorted(changes), dtype=np.uint64)
        live = np.array([changes[k] is not None for k in sorted(changes)], dtype=bool)
        vals = np.array([changes[k] or 0 for k in sorted(changes)], dtype=np.uint8)
        plan = flagrows.plan_rows(h, keys, live, [vals])
        assert sorted(h[plan.old_idx].tolist()) == sorted(k for k in changes if k in ref)
        h2, (s2,) = flagrows.execute(plan, h, [s])
        for k, v in changes.items():
            if v is None:
                ref.pop(k, None)
            else:
                ref[k] = v
        assert h2.tolist() == sorted(ref) and s2.tolist() == [ref[k] for k in sorted(ref)]


def test_bucket_sums_are_exact_and_order_independent_and_cover_every_field() -> None:
    rng = np.random.default_rng(3)
    h = rng.integers(0, 2**63, 5000, dtype=np.int64).view(np.uint64) * np.uint64(2)
    s = rng.integers(1, 5, h.size).astype(np.uint8)
    a = rng.integers(0, 2**31, h.size).astype(np.int64)
    e = np.full(h.size, flagdigest.NO_END, dtype=np.int64)
    eh = flagdigest.entry_hashes(SEED, h, s, a, e)
    sums = flagdigest.bucket_sums(flagdigest.buckets_of(h), eh)
    for b in range(flagdigest.NBUCKETS):
        expected = sum(int(x) for x, hb in zip(eh, h, strict=True) if int(hb) >> 56 == b) % 2**64
        assert int(sums[b]) == expected
    perm = rng.permutation(h.size)
    assert (flagdigest.bucket_sums(flagdigest.buckets_of(h[perm]), eh[perm]) == sums).all()
    base = flagdigest.entry_hashes(SEED, h[:1], s[:1], a[:1], e[:1])[0]
    for changed in (
        flagdigest.entry_hashes(SEED, h[:1] + np.uint64(1), s[:1], a[:1], e[:1]),
        flagdigest.entry_hashes(SEED, h[:1], s[:1] % 4 + 1, a[:1], e[:1]),
        flagdigest.entry_hashes(SEED, h[:1], s[:1], a[:1] + 1, e[:1]),
        flagdigest.entry_hashes(SEED, h[:1], s[:1], a[:1], e[:1] - 1),
        flagdigest.entry_hashes(flagdigest.digest_seed(b"another-key-0123456"), h[:1], s[:1], a[:1], e[:1]),
    ):
        assert changed[0] != base
