"""The hub CA, kiosk key generation and one-time enrollment tokens."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.keyfiles import load_private_key
from kiosk.device_identity import KEY_FILE, ensure_key, make_csr
from provisioning.ca import CertificateAuthority, CsrRejected
from provisioning.enrollment import EnrollmentBook, EnrollmentRefused

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_and_kiosk_keys_are_created_0600(ca: CertificateAuthority, tmp_path: Path) -> None:
    assert mode(ca.directory / "ca.key") == 0o600
    ensure_key(tmp_path / "kiosk")
    assert mode(tmp_path / "kiosk" / KEY_FILE) == 0o600


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    ensure_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_private_key(tmp_path / KEY_FILE)


def test_kiosk_key_is_stable_across_boots(tmp_path: Path) -> None:
    first = ensure_key(tmp_path)
    second = ensure_key(tmp_path)
    assert first.private_numbers() == second.private_numbers()


def test_ca_signs_a_kiosk_csr_as_a_client_certificate_named_by_kiosk_id(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    key = ensure_key(tmp_path)
    cert = ca.sign_client_csr(make_csr(key, "kiosk-7"), expected_name="kiosk-7")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kiosk-7"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    cert.verify_directly_issued_by(ca.cert)


def test_ca_refuses_a_csr_for_another_name_or_garbage(ca: CertificateAuthority, tmp_path: Path) -> None:
    key = ensure_key(tmp_path)
    with pytest.raises(CsrRejected, match="enrolled as 'kiosk-7'"):
        ca.sign_client_csr(make_csr(key, "kiosk-8"), expected_name="kiosk-7")
    with pytest.raises(CsrRejected, match="not a PEM"):
        ca.sign_client_csr(b"hello", expected_name="kiosk-7")


def test_ca_reloads_and_refuses_to_overwrite(ca: CertificateAuthority) -> None:
    loaded = CertificateAuthority.load(ca.directory)
    assert loaded.cert == ca.cert
    with pytest.raises(FileExistsError):
        CertificateAuthority.create(ca.directory)


def test_an_existing_ca_can_be_imported_only_with_its_own_key(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    cert_pem = ca.cert_path.read_bytes()
    key_pem = (ca.directory / "ca.key").read_bytes()
    imported = CertificateAuthority.import_existing(tmp_path / "imported", cert_pem, key_pem)
    assert imported.cert == ca.cert
    assert mode(tmp_path / "imported" / "ca.key") == 0o600
    other = CertificateAuthority.create(tmp_path / "other")
    with pytest.raises(ValueError, match="does not match"):
        CertificateAuthority.import_existing(
            tmp_path / "bad", cert_pem, (other.directory / "ca.key").read_bytes()
        )


def test_revocation_lands_in_the_crl(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert = ca.sign_client_csr(make_csr(ensure_key(tmp_path), "kiosk-1"), "kiosk-1")
    ca.revoke(cert)
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert crl.is_signature_valid(ca.cert.public_key())


def test_enrollment_token_works_once(ca: CertificateAuthority, tmp_path: Path) -> None:
    book = EnrollmentBook(tmp_path / "prov.db")
    token = book.issue("kiosk-1", NOW)
    csr = make_csr(ensure_key(tmp_path / "k1"), "kiosk-1")
    enrollment = book.redeem(token, "kiosk-1", csr, ca, NOW + timedelta(minutes=5))
    assert isinstance(enrollment.certificate.public_key(), ec.EllipticCurvePublicKey)
    with pytest.raises(EnrollmentRefused, match="already used"):
        book.redeem(token, "kiosk-1", csr, ca, NOW + timedelta(minutes=6))


def test_enrollment_token_expires_and_is_bound_to_its_kiosk(ca: CertificateAuthority, tmp_path: Path) -> None:
    book = EnrollmentBook(tmp_path / "prov.db")
    token = book.issue("kiosk-1", NOW, ttl=timedelta(hours=1))
    csr = make_csr(ensure_key(tmp_path / "k2"), "kiosk-2")
    with pytest.raises(EnrollmentRefused, match="another kiosk"):
        book.redeem(token, "kiosk-2", csr, ca, NOW)
    with pytest.raises(CsrRejected):  # a bad CSR does not burn the token ...
        book.redeem(token, "kiosk-1", b"garbage", ca, NOW)
    csr1 = make_csr(ensure_key(tmp_path / "k1"), "kiosk-1")
    with pytest.raises(EnrollmentRefused, match="expired"):
        book.redeem(token, "kiosk-1", csr1, ca, NOW + timedelta(hours=2))
    assert (
        book.redeem(token, "kiosk-1", csr1, ca, NOW + timedelta(minutes=59)).kiosk_id == "kiosk-1"
    )  # ... see
    with pytest.raises(EnrollmentRefused, match="unknown"):
        book.redeem("guess", "kiosk-1", csr1, ca, NOW)
    assert "guess" not in (tmp_path / "prov.db").read_bytes().decode("latin-1")
    assert token not in (tmp_path / "prov.db").read_bytes().decode("latin-1")
