"""Kiosk firmware: camera -> decode -> verify -> decide -> indicate -> record -> publish."""

__version__ = "0.1.0"
