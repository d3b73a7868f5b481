"""Kiosk firmware: camera -> decode -> verify -> decide -> record -> indicate -> publish (recorded first)."""

__version__ = "0.1.0"
