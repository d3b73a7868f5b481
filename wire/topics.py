"""MQTT topics of contracts.md: the one definition kiosk, hub and broker configuration share.

`{kiosk}` is the kiosk id, which is also its broker username and certificate Common Name, so the
broker's ACLs can pin each kiosk to its own topics.
"""

from __future__ import annotations

import re
import zlib

from wire.identity import SLUG_ID, SLUG_ID_RULE

ROOT = "checkpoint/v1"
FLAGS = f"{ROOT}/flags"
FLAGS_UPDATES = f"{FLAGS}/updates"
FLAGS_HEAD = f"{FLAGS}/head"
FLAGS_ALL = f"{FLAGS}/#"
TRUST = f"{ROOT}/trust"
RULES = f"{ROOT}/rules"  # health rules and value sets (wire/rules.py), signed and retained

# The four per-kiosk channels, and their topics for every kiosk at once (a single-level wildcard).
EVENTS, ACKS, STATUS, COMMANDS = "events", "acks", "status", "commands"
CHANNELS = (EVENTS, ACKS, STATUS, COMMANDS)
KIOSKS = f"{ROOT}/kiosks"
ALL_EVENTS = f"{KIOSKS}/+/{EVENTS}"
ALL_ACKS = f"{KIOSKS}/+/{ACKS}"
ALL_STATUS = f"{KIOSKS}/+/{STATUS}"
ALL_COMMANDS = f"{KIOSKS}/+/{COMMANDS}"

KIOSK_ID = SLUG_ID  # anchored (\A...\Z): a trailing newline never passes; see wire/identity.py
_KIOSK_TOPIC = re.compile(rf"\A{re.escape(KIOSKS)}/([a-z0-9][a-z0-9-]{{0,62}})/({'|'.join(CHANNELS)})\Z")


def _kiosk(kiosk_id: str) -> str:
    if not KIOSK_ID.fullmatch(kiosk_id):
        raise ValueError(f"invalid kiosk id {kiosk_id!r}: {SLUG_ID_RULE}")
    return f"{KIOSKS}/{kiosk_id}"


def events(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/{EVENTS}"


def acks(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/{ACKS}"


def status(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/{STATUS}"


def commands(kiosk_id: str) -> str:
    return f"{_kiosk(kiosk_id)}/{COMMANDS}"


def username_pattern(channel: str) -> str:
    """A per-kiosk topic with Mosquitto's `%u` (the connected username) in place of the kiosk id.

    For `pattern` lines of the broker's ACL file: the username is the certificate's Common Name,
    which is the kiosk id, so one line pins every kiosk to its own topic.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown kiosk channel {channel!r}")
    return f"{KIOSKS}/%u/{channel}"


def shared(group: str, topic: str) -> str:
    """A shared subscription (MQTT 5): the broker gives each message to one member of `group`."""
    return f"$share/{group}/{topic}"


def parse_kiosk_topic(topic: str) -> tuple[str, str] | None:
    """(kiosk_id, channel) for a per-kiosk topic, else None."""
    match = _KIOSK_TOPIC.fullmatch(topic)
    return (match.group(1), match.group(2)) if match else None


def hub_client_ids(workers: int, prefix: str = "hub") -> list[str]:
    """The hub's MQTT identities: one per connection (ingest workers, flag publisher).

    The broker pins each client id to its certificate's Common Name, so every connection of the hub
    needs a certificate of its own with exactly this name; provisioning issues them from this list.
    """
    if workers < 1:
        raise ValueError("at least one ingest worker")
    return [*(f"{prefix}-ingest-{i}" for i in range(1, workers + 1)), f"{prefix}-flags"]


def kiosk_partition(kiosk_id: str, partitions: int) -> int:
    """Which of `partitions` hub ingest workers owns a kiosk: stable across processes and restarts."""
    return zlib.crc32(kiosk_id.encode()) % partitions


def partition_group(group: str, partition: int, partitions: int) -> str:
    """The shared-subscription group of one partition (one group when there is one partition)."""
    return group if partitions == 1 else f"{group}-p{partition}-of-{partitions}"
