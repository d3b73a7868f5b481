"""Kiosk firmware: camera -> decode -> verify -> decide -> indicate -> record -> publish."""

from common.version import __version__ as __version__
