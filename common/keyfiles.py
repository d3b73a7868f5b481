"""Writing secrets to disk: created 0600 from the first byte, never world-readable even for an instant."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def write_private(path: str | Path, data: bytes) -> Path:
    """Create or replace `path` with mode 0600 (O_CREAT with the mode, then an atomic rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # before any byte: a leftover temporary file may have had wider rights
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    return p


def write_private_key(path: str | Path, key: PrivateKeyTypes) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return write_private(path, pem)


def load_private_key(path: str | Path) -> PrivateKeyTypes:
    """Load a PEM private key, refusing one that others can read (a leaked key is a cloned kiosk)."""
    p = Path(path)
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{p} is readable by others (mode {mode:o}); chmod 600 it")
    return serialization.load_pem_private_key(p.read_bytes(), password=None)
