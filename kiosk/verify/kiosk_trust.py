"""What a kiosk trusts: its provisioned sources (config `verify.trust`) plus the hub's signed list.

Shared by the service (kiosk/hubdocs.py applies the hub's updates) and `kiosk trust` (which lists the same
thing from the config and the saved list), so the listing shows exactly what the kiosk verifies with.
Provisioned sources are read once at start; a hub list is parsed outside the verifier's lock (a
national list holds ~1000 certificates; each distinct DER is parsed once and cached) and swapped in
under it, so scanning never waits on a parse.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.trust import TrustStore
from wire.envelope import Signed
from wire.trustlist import Skipped, decode_trust

log = logging.getLogger(__name__)


class KioskTrust:
    def __init__(self, sources: Iterable[str | Path]) -> None:
        self.store = TrustStore.from_paths(sources)
        self._provisioned = self.store.all_keys()
        self._provisioned_skipped = list(self.store.skipped)
        self.hub_skipped: list[Skipped] = []

    def apply(self, update: Signed, lock: contextlib.AbstractContextManager[Any] | None = None) -> None:
        """Provisioned keys plus the verified hub list `update`; keys the hub dropped stop being trusted.
        Unusable entries are skipped and named (never a reason to refuse the list)."""
        entries, hub_skipped = decode_trust(update)
        keys, bad = self.store.load_entries(entries)
        for item in hub_skipped:
            log.warning("trust entry skipped: %s", item)
        with lock if lock is not None else contextlib.nullcontext():
            self.store.replace_all([*self._provisioned, *keys], update.version)
            self.hub_skipped = [*hub_skipped, *bad]
            self.store.skipped = [*self._provisioned_skipped, *self.hub_skipped]
        log.info(
            "trust list version %d applied: %d keys, %d skipped",
            update.version,
            len(keys),
            len(self.hub_skipped),
        )

    def status(self) -> dict[str, int]:
        """For the kiosk's retained status: the hub list's version, keys per purpose, skipped entries."""
        return {"version": self.store.version, **self.store.counts()}
