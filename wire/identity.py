"""Identity patterns, defined once for kiosk, hub, provisioning and the registry import.

Every pattern is ASCII-only and matched with `fullmatch`: Python's `\\d` also matches full-width and
other Unicode digits, and `$` matches before a trailing newline, so `re.match(r"^\\d{12}$", s)` lets
through values that later crash the code that hashes or parses them (issue 12: a person id of 12
full-width digits stopped all flag distribution). The patterns are anchored with `\\A...\\Z`, so even
a caller using `.match` cannot accept a trailing newline; use `fullmatch` anyway. New document kinds
(CMND, passports) are added here as new patterns, not as new expressions scattered through callers.
"""

from __future__ import annotations

import re
from typing import TypeGuard

# A citizen id (CCCD): exactly 12 ASCII digits.
PERSON_ID = re.compile(r"\A[0-9]{12}\Z", re.ASCII)
# The older 9-digit identity card (CMND), printed on CCCD QR codes as the previous number.
CMND_ID = re.compile(r"\A[0-9]{9}\Z", re.ASCII)
# A pass target in the flag log: a pass id (8..16 bytes) or a signature hash (8..32 bytes), in hex.
PASS_TARGET = re.compile(r"\A(?:[0-9a-f]{2}){8,32}\Z", re.ASCII)
# Kiosk and checkpoint ids: also a broker username, a certificate Common Name and an MQTT topic level.
SLUG_ID = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z", re.ASCII)
SLUG_ID_RULE = "1-63 lower-case letters, digits and '-', not starting with '-'"

# For pydantic `pattern=` (its Rust engine anchors `$` at the very end, and has no `fullmatch`).
PERSON_ID_PATTERN = r"^[0-9]{12}$"
SLUG_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

TARGET_KINDS = ("person", "pass")


def _full(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_person_id(value: object) -> TypeGuard[str]:
    """A 12-digit ASCII citizen id number."""
    return _full(PERSON_ID, value)


def is_slug_id(value: object) -> TypeGuard[str]:
    """A kiosk or checkpoint id."""
    return _full(SLUG_ID, value)


def normalise_flag_target(kind: str, target: str) -> str:
    """The flag-log form of a target (pass ids in lower-case hex); ValueError saying what is wrong.

    The one check every way into the flag log goes through (API, CLI, registry import) and the flag
    publisher re-applies to every change before it leaves the hub.
    """
    if kind == "person":
        if not is_person_id(target):
            raise ValueError("target: a person is flagged by a 12-digit id number (ASCII digits 0-9)")
        return target
    if kind == "pass":
        lowered = target.lower() if isinstance(target, str) else target
        if not _full(PASS_TARGET, lowered):
            raise ValueError(
                "target: a pass is flagged by its id in hex (an even number of 16-64 hex digits)"
            )
        return str(lowered)
    raise ValueError(f"target_kind: {kind!r} is not one of {list(TARGET_KINDS)}")
