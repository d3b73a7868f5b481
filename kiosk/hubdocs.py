"""The documents the hub pushes to a kiosk besides flags: its trust list, its health rules, commands.

The link has verified each one (signature, addressee, version) before it gets here. A document is put
to use first and kept second (`save_document`), so a restart replays the last one that applied; a kept
one that no longer applies (the shipped code changed) is logged and left for the hub to resend, never
a reason not to start. Parsing and compiling happen outside the verifier's lock, the swap under it: a
scan sees the old set or the new one, never a half, and never waits on a parse. Flags are not here:
kiosk/flagsync.py owns them.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from common.healthrules import RuleError, RuleSet, rules_in_document
from kiosk.store import KioskStore
from kiosk.verify.kiosk_trust import KioskTrust
from kiosk.verify.verifier import Verifier
from wire.envelope import Signed
from wire.errors import WireError
from wire.rules import RULES_TYPE, decode_rules

log = logging.getLogger(__name__)

TRUST_TYPE = "trust"
TRUST_DOCUMENT = "trust-list"  # the store's name for the kept list
RULES_DOCUMENT = "rules"


class HubDocuments:
    def __init__(
        self,
        store: KioskStore,
        trust: KioskTrust,
        verifier: Verifier,
        lock: threading.Lock,
        value_sets: dict[str, Any],
    ) -> None:
        self.store = store
        self.trust = trust
        self.verifier = verifier
        self.lock = lock  # the verifier's: held by every scan
        self._value_sets = value_sets  # the shipped and provisioned ones, under a document's own

    def apply(self, update: Signed) -> None:
        """Trust, rules and commands from the hub (already verified and version-checked by the link;
        flag updates go to the FlagSync). A WireError says the document is refused."""
        if update.type == TRUST_TYPE:
            self.apply_trust_list(update)
        elif update.type == RULES_TYPE:
            self.apply_rules(update)
        elif update.type == "command":
            log.info("command from hub: %s", update.payload.get("action"))

    def apply_trust_list(self, update: Signed) -> None:
        """Provisioned key files plus the hub's verified list; keys the hub dropped stop being trusted."""
        self.trust.apply(update, self.lock)
        self.store.save_document(TRUST_DOCUMENT, update.version, json.dumps(update.payload))

    def apply_rules(self, update: Signed) -> None:
        """The hub's verified rule set replaces the provisioned one from the next scan on, and is kept for
        restarts. Value sets: the shipped ones, then the provisioned files, then the document's own."""
        self._use_rules(update)
        self.store.save_document(RULES_DOCUMENT, update.version, json.dumps(update.payload))

    def _use_rules(self, update: Signed) -> None:
        doc = decode_rules(update)
        try:
            raw, doc_sets = rules_in_document(doc, f"hub rules v{update.version}")
            rules = RuleSet.from_document(
                {"rules": raw, "value_sets": {**self._value_sets, **(doc_sets or {})}},
                update.version,
                f"hub rules v{update.version}",
            )
        except RuleError as exc:
            raise WireError(str(exc)) from None
        with self.lock:  # a scan sees the old set or the new one, never a half
            self.verifier.rules = rules
        log.info("health rules version %d applied (%d rules)", update.version, len(rules))

    def replay(self) -> None:
        """At start: the last trust list and rules the hub sent, as kept by the store."""
        saved = self.store.document(TRUST_DOCUMENT)
        if saved is not None:
            version, body = saved
            try:
                self.trust.apply(Signed(TRUST_TYPE, version, "", json.loads(body), ""))  # kept already
            except (WireError, ValueError) as exc:
                log.warning("saved trust list no longer applies (%s): waiting for the hub's", exc)
        saved = self.store.document(RULES_DOCUMENT)
        if saved is not None:
            version, body = saved
            try:
                self._use_rules(Signed(RULES_TYPE, version, "", json.loads(body), ""))  # kept already
            except (WireError, ValueError) as exc:
                log.warning("saved health rules no longer apply (%s): waiting for the hub's", exc)
