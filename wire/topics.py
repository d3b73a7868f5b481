"""MQTT topics of contracts.md: the one definition kiosk, hub and broker configuration share.

`{kiosk}` is the kiosk id, which is also its broker username and certificate Common Name, so the
broker's ACLs can pin each kiosk to its own topics.
"""

from __future__ import annotations

import re

ROOT = "checkpoint/v1"
FLAGS_UPDATES = f"{ROOT}/flags/updates"
FLAGS_HEAD = f"{ROOT}/flags/head"
TRUST = f"{ROOT}/trust"
ALL_EVENTS = f"{ROOT}/kiosks/+/events"
ALL_STATUS = f"{ROOT}/kiosks/+/status"

KIOSK_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_KIOSK_TOPIC = re.compile(
    rf"^{re.escape(ROOT)}/kiosks/([a-z0-9][a-z0-9-]{{0,62}})/(events|acks|status|commands)$"
)


def _kiosk(kiosk_id: str) -> str:
    if not KIOSK_ID.match(kiosk_id):
        raise ValueError(f"invalid kiosk id {kiosk_id!r}: lower-case letters, digits and '-' only")
    return f"{ROOT}/kiosks/{kiosk_id}"


def events(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/events"


def acks(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/acks"


def status(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/status"


def commands(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/commands"


def shared(group: str, topic: str) -> str:
    """A shared subscription (MQTT 5): the broker gives each message to one member of `group`."""
    return f"$share/{group}/{topic}"


def parse_kiosk_topic(topic: str) -> tuple[str, str] | None:
    """(kiosk_id, channel) for a per-kiosk topic, else None."""
    match = _KIOSK_TOPIC.match(topic)
    return (match.group(1), match.group(2)) if match else None
