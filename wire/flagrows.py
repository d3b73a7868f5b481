"""Changing a few rows of a large sorted flag list without rebuilding it (hub and kiosk alike).

A flag list is parallel numpy arrays sorted by the 64-bit person hash. A change is a set of keys, each
either set (to new column values) or removed. Rebuilding every array through a boolean mask and a merge
costs several copies of the whole list per delta (~50 ms at a million flags); here an existing key that
stays is updated in place, removals and insertions cost one copy of each array only when there are any.
The plan is computed first and executed later, so the kiosk can commit to disk in between and change
memory only once the transaction has committed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowPlan:
    old_idx: np.ndarray  # positions (in the current arrays) of keys that exist: their old rows
    upd_idx: np.ndarray  # positions updated in place
    upd_vals: list[np.ndarray]
    del_idx: np.ndarray  # positions removed (sorted)
    ins_pos: np.ndarray  # insertion points in the arrays after removal
    ins_keys: np.ndarray
    ins_vals: list[np.ndarray]


def plan_rows(hashes: np.ndarray, keys: np.ndarray, live: np.ndarray, values: list[np.ndarray]) -> RowPlan:
    """`keys`: sorted unique uint64; `live[i]`: set keys[i] to `values[c][i]` (True) or remove it (False)."""
    idx = np.searchsorted(hashes, keys)
    present = idx < hashes.size
    present[present] = hashes[idx[present]] == keys[present]
    upd, dele, ins = present & live, present & ~live, ~present & live
    del_idx = idx[dele]
    ins_pos = idx[ins] - np.searchsorted(del_idx, idx[ins])
    return RowPlan(
        idx[present],
        idx[upd],
        [v[upd] for v in values],
        del_idx,
        ins_pos,
        keys[ins],
        [v[ins] for v in values],
    )


def execute(plan: RowPlan, hashes: np.ndarray, cols: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Apply a plan: columns updated in place, then one copy per array for removals and insertions."""
    for col, vals in zip(cols, plan.upd_vals, strict=True):
        col[plan.upd_idx] = vals
    if plan.del_idx.size:
        hashes = np.delete(hashes, plan.del_idx)
        cols = [np.delete(c, plan.del_idx) for c in cols]
    if plan.ins_pos.size:
        hashes = np.insert(hashes, plan.ins_pos, plan.ins_keys)
        cols = [np.insert(c, plan.ins_pos, v) for c, v in zip(cols, plan.ins_vals, strict=True)]
    return hashes, cols
