"""The payload of a signed `rules` message: the health rules and value sets every kiosk applies.

    {"rules": [<EU rule>...], "value_sets": {"<valueSetId>": ["<code>", ...]}}

The rule format and its checks are common/healthrules.py (kiosk and hub parse it the same way);
the envelope (wire/envelope.py) signs and versions it, and the hub publishes it retained on
`topics.RULES`, so a kiosk that connects later gets the newest set at once. A complete set: rules
absent from a newer document no longer apply.
"""

from __future__ import annotations

from typing import Any

from wire.envelope import Signed
from wire.errors import WireError

RULES_TYPE = "rules"


def decode_rules(update: Signed) -> dict[str, Any]:
    """The rule document of a verified `rules` message (its rules are checked by common.healthrules)."""
    if update.type != RULES_TYPE:
        raise WireError(f"expected {RULES_TYPE}, got {update.type}")
    if not isinstance(update.payload.get("rules"), list):
        raise WireError("rules: payload needs a list of rules")
    return update.payload
