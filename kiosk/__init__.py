"""Kiosk firmware: camera -> decode -> verify -> decide -> record -> indicate -> publish."""

from common.version import __version__ as __version__
