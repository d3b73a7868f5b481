"""The broker configuration as text and files (no broker here; test_broker_tls.py runs it)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.device_identity import make_csr
from provisioning.broker import (
    BrokerFiles,
    BrokerSettings,
    decommission,
    render_acl,
    render_mosquitto_conf,
    write_broker_config,
)
from provisioning.ca import CertificateAuthority
from wire import topics


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def kiosk_cert(ca: CertificateAuthority, name: str) -> x509.Certificate:
    return ca.sign_client_csr(make_csr(ec.generate_private_key(ec.SECP256R1()), name), expected_name=name)


def test_acl_pins_kiosks_to_their_own_topics_with_patterns_from_wire_topics() -> None:
    acl = render_acl(["kiosk-a", "kiosk-b"], ["hub"]).splitlines()
    patterns = [line for line in acl if line.startswith("pattern ")]
    assert patterns == [
        f"pattern write {topics.username_pattern('events')}",
        f"pattern write {topics.username_pattern('status')}",
        f"pattern read {topics.username_pattern('acks')}",
        f"pattern read {topics.username_pattern('commands')}",
        f"pattern read {topics.FLAGS_ALL}",
        f"pattern read {topics.TRUST}",
        f"pattern read {topics.RULES}",
    ]
    hub = acl[acl.index("user hub") + 1 :]
    assert hub == [
        f"topic read {topics.ALL_EVENTS}",
        f"topic read {topics.ALL_STATUS}",
        f"topic write {topics.ALL_ACKS}",
        f"topic write {topics.ALL_COMMANDS}",
        f"topic write {topics.FLAGS_ALL}",
        f"topic write {topics.TRUST}",
        f"topic write {topics.RULES}",
    ]
    # No grant outside the patterns and the hub block (a `topic` line before any `user` would be
    # for anonymous clients).
    assert not [line for line in acl[: acl.index("user hub")] if line.startswith("topic ")]


def test_acl_denies_everything_to_a_decommissioned_kiosk() -> None:
    acl = render_acl(["kiosk-a"], ["hub"], decommissioned=["kiosk-old"])
    assert acl.endswith("user kiosk-old\ntopic deny #\n")


@pytest.mark.parametrize(
    ("kiosks", "hubs", "gone", "why"),
    [
        (["hub"], ["hub"], [], "hub usernames"),
        (["kiosk-a"], ["hub"], ["kiosk-a"], "both active and decommissioned"),
        (["kiosk-a"], ["hub"], ["hub"], "cannot be decommissioned"),
        (["kiosk a"], ["hub"], [], "invalid kiosk id"),
        (["kiosk-a"], ["#"], [], "invalid hub user"),
        (["kiosk/+"], ["hub"], [], "invalid kiosk id"),
    ],
)
def test_acl_refuses_records_that_would_blur_identities(
    kiosks: list[str], hubs: list[str], gone: list[str], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        render_acl(kiosks, hubs, gone)


def test_conf_has_one_tls_listener_with_client_certificates_and_nothing_anonymous(tmp_path: Path) -> None:
    conf = render_mosquitto_conf(BrokerFiles.in_directory(tmp_path), BrokerSettings(port=8883)).splitlines()
    assert [line for line in conf if line.startswith("listener")] == ["listener 8883"]
    for line in (
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {tmp_path / 'acl'}",
        f"cafile {tmp_path / 'ca.crt'}",
        f"crlfile {tmp_path / 'ca.crl'}",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "tls_version tlsv1.2",
        "persistence true",
    ):
        assert line in conf
    # The hub's signed trust list (a national DSC list is ~4 MB) fits any envelope a kiosk accepts.
    from wire.envelope import MAX_ENVELOPE_BYTES

    (packet,) = [int(line.split()[1]) for line in conf if line.startswith("max_packet_size ")]
    assert packet >= MAX_ENVELOPE_BYTES + 64 * 1024
    assert not [line for line in conf if "password" in line or "allow_anonymous true" in line]


def test_written_files_keep_the_key_private_and_the_server_certificate_stable(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    settings = BrokerSettings(hostnames=("broker.local", "10.0.0.2"))
    files = write_broker_config(tmp_path / "broker", ca, ["kiosk-a"], settings)
    assert stat.S_IMODE(files.keyfile.stat().st_mode) == 0o600
    assert files.cafile.read_bytes() == ca.cert_path.read_bytes()
    first = x509.load_pem_x509_certificate(files.certfile.read_bytes())
    first.verify_directly_issued_by(ca.cert)
    names = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"broker.local", "10.0.0.2"}

    write_broker_config(tmp_path / "broker", ca, ["kiosk-a", "kiosk-b"], settings)
    again = x509.load_pem_x509_certificate(files.certfile.read_bytes())
    assert again.serial_number == first.serial_number  # kiosks keep trusting the same certificate

    write_broker_config(tmp_path / "broker", ca, ["kiosk-a"], BrokerSettings(hostnames=("broker.lan",)))
    moved = x509.load_pem_x509_certificate(files.certfile.read_bytes())
    assert moved.serial_number != first.serial_number
    assert moved.public_key() == first.public_key()  # same key, new names


def test_bad_records_leave_the_previous_config_in_place(ca: CertificateAuthority, tmp_path: Path) -> None:
    files = write_broker_config(tmp_path / "broker", ca, ["kiosk-a"])
    before = files.acl.read_text()
    with pytest.raises(ValueError):
        write_broker_config(tmp_path / "broker", ca, ["hub"])
    assert files.acl.read_text() == before


def test_decommission_revokes_moves_the_kiosk_and_restarts(ca: CertificateAuthority, tmp_path: Path) -> None:
    old, current = kiosk_cert(ca, "kiosk-b"), kiosk_cert(ca, "kiosk-b")
    restarts: list[str] = []
    files = decommission(
        [old, current], ca, tmp_path / "broker", ["kiosk-a", "kiosk-b"], restart=lambda: restarts.append("x")
    )
    assert restarts == ["x"]
    crl = x509.load_pem_x509_crl(files.crlfile.read_bytes())
    assert {r.serial_number for r in crl} == {old.serial_number, current.serial_number}
    assert "user kiosk-b\ntopic deny #" in files.acl.read_text()


def test_decommission_refuses_mixed_or_unknown_kiosks(ca: CertificateAuthority, tmp_path: Path) -> None:
    def never() -> None:
        raise AssertionError("must not restart")

    a, b = kiosk_cert(ca, "kiosk-a"), kiosk_cert(ca, "kiosk-b")
    with pytest.raises(ValueError, match="one kiosk"):
        decommission([a, b], ca, tmp_path, ["kiosk-a", "kiosk-b"], restart=never)
    with pytest.raises(ValueError, match="not an active kiosk"):
        decommission([a], ca, tmp_path, ["kiosk-b"], restart=never)
    assert ca.revoked_serials() == set()


@pytest.mark.parametrize("place", ["/etc/mosquitto/checkpoint/data", "/etc", "/usr/local/mosquitto"])
def test_persistence_where_the_hardened_broker_cannot_write_is_refused(
    ca: CertificateAuthority, tmp_path: Path, place: str
) -> None:
    with pytest.raises(ValueError, match="read-only for the broker"):
        write_broker_config(tmp_path / "conf", ca, ["kiosk-a"], BrokerSettings(persistence_dir=place))
    assert not (tmp_path / "conf").exists()  # refused before anything was written


def test_persistence_can_live_apart_from_the_configuration(ca: CertificateAuthority, tmp_path: Path) -> None:
    state = tmp_path / "var-lib-mosquitto"
    files = write_broker_config(
        tmp_path / "conf", ca, ["kiosk-a"], BrokerSettings(persistence_dir=str(state))
    )
    assert files.persistence == state and state.is_dir()
    assert f"persistence_location {state}/\n" in files.conf.read_text()
    assert not (tmp_path / "conf" / "data").exists()
