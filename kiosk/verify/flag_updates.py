"""Applying the hub's verified flag updates (wire/flagsync.py) to the kiosk's FlagStore."""

from __future__ import annotations

import numpy as np

from kiosk.verify.flags import NO_END, FlagStatus, FlagStore, PersonFlag
from wire import flagsync
from wire.envelope import Signed


def apply_update(flags: FlagStore, update: Signed) -> None:
    """Apply a flags.delta or flags.snapshot; raises WireError/ValueError (and changes nothing) if invalid."""
    if update.type == "flags.delta":
        delta = flagsync.decode_delta(update)
        if delta.from_version != flags.version:
            raise ValueError(f"delta from {delta.from_version} does not follow the kiosk's {flags.version}")
        flags.apply_delta(
            [_person(e) for e in delta.added], delta.lifted, delta.to_version, delta.revoked, delta.unrevoked
        )
    elif update.type == "flags.snapshot":
        snapshot = flagsync.decode_snapshot(update)
        persons = snapshot.persons
        flags.load_arrays(
            np.array([e.id_hash for e in persons], dtype=np.uint64),
            np.array([int(FlagStatus[e.status]) for e in persons], dtype=np.uint8),
            np.array([e.start for e in persons], dtype=np.int64),
            np.array([NO_END if e.end is None else e.end for e in persons], dtype=np.int64),
        )
        for kind in flagsync.REVOCATION_KINDS:
            flags.revocation_set(kind).clear()
        for kind, value in snapshot.revoked:
            flags.revocation_set(kind).add(value)
        flags.version = snapshot.version
    else:
        raise ValueError(f"not a flag update: {update.type}")


def _person(entry: flagsync.FlagEntry) -> PersonFlag:
    return PersonFlag(entry.id_hash, FlagStatus[entry.status], entry.start, entry.end)
