"""The stored form of a person's 12-digit id in flag lists: HMAC-SHA256(key, id)[:8] as uint64.

A wire format because the hub computes it when it builds flag deltas and the kiosk computes it
to look a scanned id up: both must agree bit for bit, so it is defined once, here. The key is
per deployment and never travels with the flag list, so a stolen list cannot be tested against
the 10^12 possible ids.
"""

from __future__ import annotations

import hmac


def id_hash(key: bytes, id_number: str) -> int:
    """HMAC-SHA256 over the ASCII id, first 8 bytes, big-endian unsigned integer."""
    return int.from_bytes(hmac.digest(key, id_number.encode("ascii"), "sha256")[:8], "big")


def id_hash_hex(key: bytes, id_number: str) -> str:
    """The 16-hex-digit form used in the flag JSON file (`id_hash`)."""
    return f"{id_hash(key, id_number):016x}"
