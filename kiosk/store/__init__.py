"""The kiosk's local, durable record (SQLite): passages, outbox, applied versions, documents."""

from kiosk.store.config import StoreConfig
from kiosk.store.store import KioskStore, StoreHealth

__all__ = ["KioskStore", "StoreConfig", "StoreHealth"]
