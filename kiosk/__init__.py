"""Kiosk firmware: camera -> decode -> verify -> decide -> record -> indicate -> publish."""

__version__ = "0.1.0"
