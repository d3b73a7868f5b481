"""The deployment's id-hash key: the one secret that hub and every kiosk share (flags travel as keyed hashes).

Here, not in the kiosk's flag store, because the hub (`hub serve` signs flag lists with it) and
`provision kiosk sign` read the same file with the same checks as the kiosk.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_KEY = b"qr-checkpoint-dev-flag-key-CHANGE-ME"

MIN_FLAG_KEY_BYTES = 16


def read_flag_key(path: Path) -> bytes:
    """The deployment's id-hash key (hub and every kiosk share it; `hub init` makes it).

    Flags travel as keyed hashes of id numbers: without the key, a copied flag list does not say whom
    it names (12-digit ids are otherwise easy to enumerate). So the file is a secret: refused when
    others can read it.
    """
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    key = path.read_bytes().strip()
    if len(key) < MIN_FLAG_KEY_BYTES:
        raise ValueError(f"{path}: an id-hash key of at least {MIN_FLAG_KEY_BYTES} bytes is needed")
    return key
