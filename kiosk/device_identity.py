"""The kiosk's own identity: a key pair made on the kiosk (it never leaves), and a signing request."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.keyfiles import load_private_key, write_private_key

KEY_FILE = "kiosk.key"
CERT_FILE = "kiosk.crt"


def ensure_key(directory: str | Path) -> ec.EllipticCurvePrivateKey:
    """Load the kiosk key, or create it (mode 0600) on first boot."""
    path = Path(directory) / KEY_FILE
    if path.exists():
        key = load_private_key(path)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} is not an EC key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    write_private_key(path, key)
    return key


def make_csr(key: ec.EllipticCurvePrivateKey, kiosk_id: str) -> bytes:
    """A PEM CSR naming the kiosk id as Common Name (the broker uses it as the MQTT username)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk_id)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)
