"""The hub's certificate authority: it signs kiosk client certificates and the broker's server certificate.

Kiosk keys never leave the kiosk: the kiosk sends a signing request (CSR), the CA checks that the
requested name is the kiosk id it enrolled, and returns a certificate whose Common Name is the
kiosk id. The broker uses that name as the MQTT username, so ACLs follow the certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.keyfiles import load_private_key, write_private, write_private_key

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CA_CRL = "ca.crl"
REVOKED = "revoked.txt"  # one "serial_hex reason" per line, the CRL's source of truth


class CsrRejected(ValueError):
    """A signing request that the CA will not sign, with the reason."""


@dataclass
class CertificateAuthority:
    directory: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    # -- creation and loading ----------------------------------------------------------------

    @classmethod
    def create(
        cls, directory: str | Path, name: str = "Checkpoint Hub CA", days: int = 3650
    ) -> CertificateAuthority:
        d = Path(directory)
        if (d / CA_KEY).exists():
            raise FileExistsError(f"{d / CA_KEY} exists: refusing to overwrite a CA")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        d.mkdir(parents=True, exist_ok=True)
        write_private_key(d / CA_KEY, key)
        (d / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(d, key, cert)
        ca.write_crl()
        return ca

    @classmethod
    def import_existing(cls, directory: str | Path, cert_pem: bytes, key_pem: bytes) -> CertificateAuthority:
        """Adopt an existing CA (an organisation's own), after checking that key and certificate match."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("only EC CA keys are supported")
        cert_key = cert.public_key()
        if not isinstance(cert_key, ec.EllipticCurvePublicKey) or (
            key.public_key().public_numbers() != cert_key.public_numbers()
        ):
            raise ValueError("CA key does not match the CA certificate")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        write_private(d / CA_KEY, key_pem)
        (d / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(d, key, cert)
        ca.write_crl()
        return ca

    @classmethod
    def load(cls, directory: str | Path) -> CertificateAuthority:
        d = Path(directory)
        key = load_private_key(d / CA_KEY)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("CA key is not an EC key")
        return cls(d, key, x509.load_pem_x509_certificate((d / CA_CERT).read_bytes()))

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT

    @property
    def crl_path(self) -> Path:
        return self.directory / CA_CRL

    # -- signing --------------------------------------------------------------------------------

    def sign_client_csr(self, csr_pem: bytes, expected_name: str, days: int = 365) -> x509.Certificate:
        """Sign a kiosk's (or the hub's) CSR whose Common Name must be `expected_name`."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise CsrRejected(f"not a PEM certificate signing request: {exc}") from None
        if not csr.is_signature_valid:
            raise CsrRejected("CSR signature does not verify")
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(names) != 1 or names[0].value != expected_name:
            got = names[0].value if names else None
            raise CsrRejected(f"CSR names {got!r}, enrolled as {expected_name!r}")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CsrRejected("kiosk keys must be EC P-256")
        return self._issue(csr.subject, public_key, days, ExtendedKeyUsageOID.CLIENT_AUTH)

    def issue_server_cert(
        self, key: ec.EllipticCurvePrivateKey, hostnames: list[str], days: int = 825
    ) -> x509.Certificate:
        """The broker's TLS certificate, valid for the given DNS names and IP addresses."""
        alt: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
        return self._issue(subject, key.public_key(), days, ExtendedKeyUsageOID.SERVER_AUTH, alt)

    def _issue(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        days: int,
        usage: x509.ObjectIdentifier,
        alt_names: list[x509.GeneralName] | None = None,
        not_before: dt.datetime | None = None,
    ) -> x509.Certificate:
        start = not_before or _now() - dt.timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    # -- revocation -----------------------------------------------------------------------------

    def revoke(self, cert: x509.Certificate, reason: str = "decommissioned") -> None:
        with (self.directory / REVOKED).open("a") as f:
            f.write(f"{cert.serial_number:x} {reason}\n")
        self.write_crl()

    def revoked_serials(self) -> set[int]:
        path = self.directory / REVOKED
        if not path.exists():
            return set()
        return {int(line.split()[0], 16) for line in path.read_text().splitlines() if line.strip()}

    def write_crl(self, days: int = 30) -> Path:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=days))
        )
        for serial in sorted(self.revoked_serials()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        self.crl_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return self.crl_path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
