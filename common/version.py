"""The release that every command and the kiosk's status report: read from the installed distribution.

One source (pyproject.toml's `version`), so `kiosk --version`, `hub --version`, `provision --version` and
the status a kiosk publishes never disagree; here rather than in `kiosk/` so the hub and the provisioning
tools need not import the kiosk to say it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "qr-checkpoint"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a checkout on sys.path that was never pip-installed
    __version__ = "0+unknown"
