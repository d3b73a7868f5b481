"""The hub signing keys a kiosk trusts, and how they change: only by a rotation the current key signed.

A kiosk is provisioned with the hub's public key. To rotate, the hub announces its next key in a
`key.rotate` message signed by the current one; from then on the kiosk trusts both, so the hub can
switch whenever every kiosk has confirmed (the kiosk lists the key ids it trusts in its status). The
first valid message signed by the next key retires the keys before it: a leaked old key then signs
nothing this kiosk accepts, and a restart does not bring it back (the ring is kept in the kiosk's store).
"""

from __future__ import annotations

import json
import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.store import KioskStore
from wire.envelope import Signed, key_id, load_public_key, public_pem
from wire.errors import WireError

log = logging.getLogger(__name__)

NEXT = "hub_key_next"
RETIRED = "hub_keys_retired"


class HubKeyRing:
    def __init__(self, store: KioskStore, provisioned: list[Ed25519PublicKey]) -> None:
        self._store = store
        retired_doc = store.document(RETIRED)
        self._retired: set[str] = set(json.loads(retired_doc[1])) if retired_doc else set()
        self._keys = {key_id(k): k for k in provisioned if key_id(k) not in self._retired}
        self._next: str | None = None
        saved = store.document(NEXT)
        if saved is not None:
            key = load_public_key(saved[1].encode())
            self._next = key_id(key)
            if self._next not in self._retired:
                self._keys[self._next] = key

    @property
    def trusted(self) -> dict[str, Ed25519PublicKey]:
        return self._keys

    def kids(self) -> list[str]:
        return sorted(self._keys)

    @staticmethod
    def _announced(signed: Signed) -> Ed25519PublicKey:
        pem = signed.payload.get("next_public_key")
        if not isinstance(pem, str):
            raise WireError("key.rotate without next_public_key")
        try:
            return load_public_key(pem.encode())
        except ValueError as exc:
            raise WireError(f"key.rotate: {exc}") from None

    def already_trusts(self, signed: Signed) -> bool:
        """The announcement names a key trusted already: the hub repeats it for kiosks that were away."""
        return key_id(self._announced(signed)) in self._keys

    def announce(self, signed: Signed) -> None:
        """Trust the next key announced by `signed` (verified under a trusted key, and newer)."""
        key = self._announced(signed)
        kid = key_id(key)
        if kid in self._retired:
            raise WireError(f"key.rotate: key {kid} was retired")
        self._keys[kid] = key
        self._next = kid
        self._store.save_document(NEXT, signed.version, public_pem(key).decode(), version_type="key.rotate")
        log.info("hub announced its next signing key %s", kid)

    def used(self, kid: str) -> None:
        """A valid message signed by `kid` arrived: if it is the announced next key, retire the others."""
        if kid != self._next or len(self._keys) == 1:
            return
        old = [k for k in self._keys if k != kid]
        for k in old:
            del self._keys[k]
        self._retired.update(old)
        self._store.save_document(RETIRED, 0, json.dumps(sorted(self._retired)))
        log.info("hub switched to signing key %s; retired %s", kid, ", ".join(old))
