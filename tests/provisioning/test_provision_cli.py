"""`provision`, the hub operators' CLI: run as an operator would, through click's CliRunner.

The path of a new kiosk end to end (CA, enroll, keygen on the kiosk, sign, install the bundle,
load it with the kiosk's own config loader, connect to a broker configured by `provision broker
config`, decommission), passes minted as PNG that decode and verify, and every operator mistake
ending in one line on stderr with a non-zero exit and no traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import shutil
import signal
import stat
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as mqtt
import pytest
import zxingcpp
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

import provisioning.commands
import provisioning.commands.pass_mint
from common.keyfiles import write_private_key
from common.trust import TrustStore
from kiosk.cli import main as kiosk_main
from kiosk.config import load_config
from kiosk.verify.flags import FlagStore
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from provisioning.cli import main
from testkit.services import MosquittoBroker, broker_files_dir, free_port, mosquitto_file_owner
from wire import topics
from wire.envelope import load_public_key

pytestmark = pytest.mark.timeout(60)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
KIOSK = "kiosk-sm-01"
PERSON = {"id": "001099012345", "name": "Nguyễn Văn An", "dob": "1999-01-01"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The CLI's one clock, settable by a test: `clock[0] = ...`."""
    now = [NOW]
    monkeypatch.setattr(provisioning.commands, "utc_now", lambda: now[0])
    return now


def run(*args: object, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)


def ok(*args: object, **kwargs: Any) -> Result:
    result = run(*args, **kwargs)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def refused(*args: object, match: str, **kwargs: Any) -> str:
    """The command fails cleanly: non-zero exit, no traceback, and its error is one line."""
    result = run(*args, **kwargs)
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught exception
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    if result.exit_code == 1:  # ours (ClickException): nothing but that line
        assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert match in errors[0], errors[0]
    return errors[0]


@dataclass
class Hub:
    dir: Path
    issuer_key: Path
    issuer_pub: Path

    def args(self, *args: object) -> list[object]:
        """`group command --dir D rest...`, so that `rest` may end with an option awaiting its value."""
        return [*args[:2], "--dir", self.dir, *args[2:]]


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    """A provisioning directory with a CA, the hub's public signing key and one issuer in trust/."""
    d = tmp_path / "prov"
    ok("ca", "create", "--dir", d, "--name", "Test Hub CA")
    hub_key = Ed25519PrivateKey.generate().public_key()
    (d / "hub.pub.pem").write_bytes(
        hub_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    ok("issuer", "create", "--name", "VN-HN", "--out", tmp_path / "issuer")
    private = next((tmp_path / "issuer").glob("*.key.pem"))
    public = next((tmp_path / "issuer").glob("*.pub.pem"))
    (d / "trust").mkdir()
    shutil.copy(public, d / "trust")
    return Hub(d, private, public)


def enroll(hub: Hub, kiosk: str = KIOSK, *extra: object, broker: str = "127.0.0.1:8883") -> str:
    result = ok(
        "kiosk",
        "enroll",
        kiosk,
        "--dir",
        hub.dir,
        "--checkpoint",
        "sm-hanoi-01",
        "--name",
        "Siêu thị A",
        "--location",
        "Hà Nội",
        "--mode",
        "self",
        "--broker",
        broker,
        *extra,
    )
    token = result.stdout.strip()
    assert len(token) >= 32 and "\n" not in token
    return token


def keygen(kiosk_dir: Path, kiosk: str = KIOSK) -> Path:
    ok("kiosk", "keygen", kiosk, "--out", kiosk_dir)
    return kiosk_dir / "kiosk.csr"


def bring_up(hub: Hub, tmp_path: Path, kiosk: str = KIOSK, broker: str = "127.0.0.1:8883") -> Path:
    """enroll, keygen on the kiosk, sign, install: the kiosk's config directory."""
    token = enroll(hub, kiosk, broker=broker)
    kiosk_dir = tmp_path / f"{kiosk}-etc"
    csr = keygen(kiosk_dir, kiosk)
    bundle = tmp_path / f"{kiosk}.tar.gz"
    ok(
        *hub.args(
            "kiosk", "sign", "--csr", csr, "--token", token, "--out", bundle, "--install-dir", kiosk_dir
        )
    )
    with tarfile.open(bundle) as tar:
        tar.extractall(kiosk_dir, filter="data")
    return kiosk_dir


# -- CA -------------------------------------------------------------------------------------------


def test_ca_create_and_import_write_the_key_0600_and_never_replace_a_ca(tmp_path: Path) -> None:
    ok("ca", "create", "--dir", tmp_path / "a", "--name", "A")
    assert mode(tmp_path / "a" / "ca.key") == 0o600
    refused("ca", "create", "--dir", tmp_path / "a", match="refusing to replace")

    ok(
        "ca",
        "import",
        "--dir",
        tmp_path / "b",
        "--cert",
        tmp_path / "a/ca.crt",
        "--key",
        tmp_path / "a/ca.key",
    )
    assert mode(tmp_path / "b" / "ca.key") == 0o600
    assert (tmp_path / "b" / "ca.crt").read_bytes() == (tmp_path / "a" / "ca.crt").read_bytes()

    ok("ca", "create", "--dir", tmp_path / "other")
    args = ("ca", "import", "--dir", tmp_path / "c", "--cert", tmp_path / "a/ca.crt")
    refused(*args, "--key", tmp_path / "other/ca.key", match="does not match")
    refused(*args, "--key", tmp_path / "nope.key", match="no such file")
    refused(*args, "--key", tmp_path / "a/ca.crt", match="unencrypted PEM key")


# -- a kiosk, end to end ----------------------------------------------------------------------------


def test_keygen_makes_a_0600_key_and_a_csr_named_by_the_kiosk_id_and_keeps_the_key(tmp_path: Path) -> None:
    csr_path = keygen(tmp_path / "etc")
    key_path = tmp_path / "etc" / "kiosk.key"
    assert mode(key_path) == 0o600
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == KIOSK
    first = key_path.read_bytes()
    keygen(tmp_path / "etc")
    assert key_path.read_bytes() == first
    refused("kiosk", "keygen", "Kiosk_1", "--out", tmp_path / "x", match="invalid kiosk id")


def test_bundle_installs_and_validates_with_the_kiosks_own_config_loader(hub: Hub, tmp_path: Path) -> None:
    kiosk_dir = bring_up(hub, tmp_path)
    config = load_config(kiosk_dir / "kiosk.toml")
    assert (config.kiosk.kiosk_id, config.kiosk.checkpoint_id, config.kiosk.mode) == (
        KIOSK,
        "sm-hanoi-01",
        "self",
    )
    assert config.kiosk.checkpoint_name == "Siêu thị A, Hà Nội"
    assert config.policy == PolicyConfig()
    assert config.mqtt is not None and config.mqtt.tls is not None
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 8883)
    tls = config.mqtt.tls
    assert Path(tls.key_file) == kiosk_dir / "kiosk.key" and mode(Path(tls.key_file)) == 0o600
    cert = x509.load_pem_x509_certificate(Path(tls.cert_file).read_bytes())
    ca = x509.load_pem_x509_certificate(Path(tls.ca_file).read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == KIOSK
    key = serialization.load_pem_private_key(Path(tls.key_file).read_bytes(), None)
    assert cert.public_key() == key.public_key()  # the certificate is for the key made on the kiosk
    # What the kiosk service loads at start: its trust list and the hub's key.
    assert len(TrustStore.from_paths(config.verify.trust)) == 1
    assert config.verify.hub_public_key is not None
    load_public_key(config.verify.hub_public_key.read_bytes())


def test_bundles_carrying_the_flag_key_are_0600_from_the_first_byte_whatever_the_umask(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: the tarball written 0644 (0666 under umask 0) with the fleet-wide flag.key inside, and a
    directory bundle's flag.key written world-readable and chmod-ed afterwards. Any chmod seen here
    records the file's mode just before it, so a write-then-chmod shows up even though it ends 0600."""
    from common.keyfiles import write_private

    write_private(hub.dir / "flag.key", b"deployment-id-hash-key-0123456789\n")
    before_chmod: dict[str, int] = {}
    real_chmod = os.chmod

    def recording_chmod(path: Any, chmod_mode: int, *args: Any, **kwargs: Any) -> None:
        p = Path(path)
        if p.is_file():
            before_chmod[p.name] = mode(p)
        real_chmod(path, chmod_mode, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", recording_chmod)
    old_umask = os.umask(0)
    try:
        tarball = tmp_path / "kiosk-a.tar.gz"
        directory = tmp_path / "kiosk-b-bundle"
        for kiosk, out in (("kiosk-a", tarball), ("kiosk-b", directory)):
            token = enroll(hub, kiosk)
            csr = keygen(tmp_path / f"{kiosk}-etc", kiosk)
            ok(*hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", out))
    finally:
        os.umask(old_umask)
    assert mode(tarball) == 0o600
    with tarfile.open(tarball) as tar:
        assert tar.getmember("flag.key").mode == 0o600
    assert mode(directory / "flag.key") == 0o600
    assert mode(directory / "kiosk.toml") == 0o644  # the public files stay readable
    assert all(m & 0o077 == 0 for name, m in before_chmod.items() if name.endswith((".key", ".tar.gz"))), (
        before_chmod
    )


def test_the_bundle_holds_no_private_key_as_a_directory_or_a_tarball(hub: Hub, tmp_path: Path) -> None:
    bring_up(hub, tmp_path)  # the tarball
    with tarfile.open(tmp_path / f"{KIOSK}.tar.gz") as tar:
        names = sorted(tar.getnames())
        contents = [tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()]
    assert names == [
        "ca.crt",
        "hub.pub.pem",
        "kiosk.crt",
        "kiosk.toml",
        "trust",
        f"trust/{hub.issuer_pub.name}",
    ]
    assert not any(b"PRIVATE KEY" in c for c in contents)

    token = enroll(hub, "kiosk-2")
    csr = keygen(tmp_path / "k2", "kiosk-2")
    out = tmp_path / "bundle-dir"
    ok(*hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", out))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 5 and not any(b"PRIVATE KEY" in p.read_bytes() for p in files)
    assert load_config(out / "kiosk.toml").mqtt.tls.key_file == "/etc/kiosk/kiosk.key"

    # Private material offered for the bundle is refused, before the token is spent.
    token = enroll(hub, "kiosk-3")
    csr = keygen(tmp_path / "k3", "kiosk-3")
    sign = hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", tmp_path / "b3")
    refused(*sign, "--trust", hub.issuer_key, match="holds a private key")
    refused(*sign, "--trust", hub.issuer_key.parent, match="holds a private key")
    refused(*sign, "--hub-key", hub.dir / "ca.key", match="is a private key")
    ok(*sign)


def test_token_works_once_not_after_expiry_and_only_for_its_kiosks_csr(
    hub: Hub, tmp_path: Path, clock: list[dt.datetime]
) -> None:
    token = enroll(hub)
    csr = keygen(tmp_path / "k1")
    sign = hub.args("kiosk", "sign", "--csr", csr, "--out")
    refused(*sign, tmp_path / "b0", "--token", "not-the-token", match="unknown enrollment token")
    other_csr = keygen(tmp_path / "k2", "kiosk-other")
    refused(
        *hub.args("kiosk", "sign", "--csr", other_csr, "--token", token, "--out", tmp_path / "b1"),
        match="CSR names 'kiosk-other', enrolled as 'kiosk-sm-01'",
    )
    (tmp_path / "garbage.csr").write_text("hello")
    refused(
        *hub.args(
            "kiosk", "sign", "--csr", tmp_path / "garbage.csr", "--token", token, "--out", tmp_path / "b1"
        ),
        match="not a PEM certificate signing request",
    )
    ok(*sign, tmp_path / "b1", "--token", token)  # the refusals above did not burn it
    refused(*sign, tmp_path / "b2", "--token", token, match="already used")

    token = enroll(hub, "kiosk-late", "--ttl", "1h")
    csr = keygen(tmp_path / "k3", "kiosk-late")
    clock[0] = NOW + dt.timedelta(hours=1, seconds=1)
    refused(
        *hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", tmp_path / "b3"), match="expired"
    )
    # The token can also come from the environment or a hidden prompt (not the shell history).
    token = enroll(hub, "kiosk-late")
    ok(*hub.args("kiosk", "sign", "--csr", csr, "--out", tmp_path / "b4"), env={"PROVISION_TOKEN": token})


def test_a_new_token_replaces_the_unused_one(hub: Hub, tmp_path: Path) -> None:
    first = enroll(hub)
    second = enroll(hub)
    csr = keygen(tmp_path / "k")
    refused(
        *hub.args("kiosk", "sign", "--csr", csr, "--token", first, "--out", tmp_path / "b"),
        match="already used",
    )
    ok(*hub.args("kiosk", "sign", "--csr", csr, "--out", tmp_path / "b"), input=second + "\n")


@pytest.mark.parametrize(
    ("kiosk_id", "match"),
    [
        ("Kiosk-1", "invalid kiosk id"),
        ("kiosk_1", "invalid kiosk id"),
        ("-kiosk", "invalid kiosk id"),
        ("k" * 64, "invalid kiosk id"),
        ("kiosk/1", "invalid kiosk id"),
        ("hub", "reserved for hub"),
        ("hub-ingest-1", "reserved for hub"),
        ("hub\n", "invalid kiosk id"),  # `$` matched before the newline: accepted, and not a hub name
        ("kiosk-1\n", "invalid kiosk id"),
        ("kiosk-\uff11", "invalid kiosk id"),
    ],
)
def test_enroll_refuses_ids_that_are_invalid_or_hub_names(hub: Hub, kiosk_id: str, match: str) -> None:
    args = ("--checkpoint", "cp-1", "--name", "A", "--mode", "self", "--broker", "hub.vn:8883")
    refused(*hub.args("kiosk", "enroll", *args, "--", kiosk_id), match=match)  # "--": "-kiosk" is no option


def test_enroll_refuses_bad_options(hub: Hub) -> None:
    base = {"--checkpoint": "cp-1", "--name": "A", "--mode": "self", "--broker": "hub.vn:8883"}

    def enroll_with(**changes: str) -> list[object]:
        opts = {**base, **{f"--{k}": v for k, v in changes.items()}}
        return hub.args("kiosk", "enroll", "kiosk-1", *[x for kv in opts.items() for x in kv])

    refused(*enroll_with(checkpoint="CP 1"), match="invalid checkpoint id")
    refused(*enroll_with(checkpoint="cp-1\n"), match="invalid checkpoint id")
    refused(*enroll_with(broker="hub.vn\n:8883"), match="not a host name")
    refused(*enroll_with(broker="hub.vn"), match="expected HOST:PORT")
    refused(*enroll_with(broker="hub.vn:99999"), match="port must be")
    refused(*enroll_with(name=" "), match="--name must not be empty")
    refused(*enroll_with(ttl="40d"), match="longer than 30d")
    refused(*enroll_with(ttl="soon"), match="use a number and a unit")
    refused(*enroll_with(mode="auto"), match="'auto' is not one of")
    ok(*enroll_with(broker="[fd00::1]:8883"))
    assert json.loads(ok(*hub.args("kiosk", "list", "--json")).stdout)[0]["broker"] == "fd00::1:8883"


def test_list_and_decommission_revoke_deny_and_refuse_reenrollment(hub: Hub, tmp_path: Path) -> None:
    bring_up(hub, tmp_path)
    enroll(hub, "kiosk-pending")
    ok(*hub.args("broker", "config", "--out", tmp_path / "broker"))
    rows = {r["kiosk_id"]: r for r in json.loads(ok(*hub.args("kiosk", "list", "--json")).stdout)}
    assert (rows[KIOSK]["status"], rows["kiosk-pending"]["status"]) == ("active", "pending")
    assert rows[KIOSK]["cert_expires"] is not None
    table = ok(*hub.args("kiosk", "list")).stdout
    assert KIOSK in table and "Siêu thị A" in table

    cert = x509.load_pem_x509_certificate((tmp_path / f"{KIOSK}-etc" / "kiosk.crt").read_bytes())
    result = ok(*hub.args("kiosk", "decommission", KIOSK, "--no-restart"))
    assert "not restarted" in result.stderr
    for crl_path in (hub.dir / "ca.crl", tmp_path / "broker" / "ca.crl"):
        crl = x509.load_pem_x509_crl(crl_path.read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert f"user {KIOSK}\ntopic deny #" in (tmp_path / "broker" / "acl").read_text()
    rows = {r["kiosk_id"]: r for r in json.loads(ok(*hub.args("kiosk", "list", "--json")).stdout)}
    assert rows[KIOSK]["status"] == "decommissioned" and rows[KIOSK]["cert_expires"] is None

    refused(*hub.args("kiosk", "decommission", KIOSK, "--no-restart"), match="already decommissioned")
    refused(*hub.args("kiosk", "decommission", "kiosk-nobody", "--no-restart"), match="unknown kiosk")
    args = ("--checkpoint", "cp-1", "--name", "A", "--mode", "self", "--broker", "127.0.0.1:8883")
    refused(*hub.args("kiosk", "enroll", KIOSK, *args), match="use --force")
    token = ok(*hub.args("kiosk", "enroll", KIOSK, *args, "--force")).stdout.strip()
    ok(
        *hub.args(
            "kiosk",
            "sign",
            "--csr",
            tmp_path / f"{KIOSK}-etc" / "kiosk.csr",
            "--token",
            token,
            "--out",
            tmp_path / "again",
        )
    )
    ok(*hub.args("broker", "config"))  # the recorded --out; the deny block is lifted
    assert f"user {KIOSK}\n" not in (tmp_path / "broker" / "acl").read_text()

    # A kiosk that never got a certificate: its token dies with it; restart command failures are reported.
    token = enroll(hub, "kiosk-never")
    ok(
        *hub.args("kiosk", "decommission", "kiosk-never", "--restart-cmd", "false")
    )  # nothing to cut: no restart
    csr = keygen(tmp_path / "never", "kiosk-never")
    refused(
        *hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", tmp_path / "n"),
        match="kiosk-never is decommissioned",
    )
    refused(
        *hub.args("kiosk", "decommission", KIOSK, "--restart-cmd", "false"), match="broker restart failed"
    )
    rows = {r["kiosk_id"]: r for r in json.loads(ok(*hub.args("kiosk", "list", "--json")).stdout)}
    assert rows[KIOSK]["status"] == rows["kiosk-never"]["status"] == "decommissioned"


def test_broker_config_follows_the_registry(hub: Hub, tmp_path: Path) -> None:
    enroll(hub, "kiosk-a", broker="hub.example.vn:8883")
    refused(*hub.args("broker", "config"), match="--out is needed")
    ok(*hub.args("broker", "config", "--out", tmp_path / "broker", "--port", 18883, "--hub-user", "hub"))
    conf = (tmp_path / "broker" / "mosquitto.conf").read_text()
    assert "listener 18883" in conf and "require_certificate true" in conf
    assert mode(tmp_path / "broker" / "server.key") == 0o600
    server = x509.load_pem_x509_certificate((tmp_path / "broker" / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "hub.example.vn" in names.get_values_for_type(x509.DNSName)  # the name kiosks were given
    assert "user hub\n" in (tmp_path / "broker" / "acl").read_text()


# -- the bundle against a real broker ---------------------------------------------------------------


def kiosk_connects(config_path: Path) -> bool:
    """Connect as the kiosk would: the installed kiosk.toml's broker address and TLS files."""
    cfg = load_config(config_path)
    assert cfg.mqtt is not None and cfg.mqtt.tls is not None
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.kiosk.kiosk_id, reconnect_on_failure=False
    )
    client.tls_set(
        ca_certs=cfg.mqtt.tls.ca_file, certfile=cfg.mqtt.tls.cert_file, keyfile=cfg.mqtt.tls.key_file
    )
    settled, accepted = threading.Event(), []
    client.on_connect = lambda _c, _u, _f, reason, _p: (accepted.append(not reason.is_failure), settled.set())
    client.on_disconnect = lambda *_a: settled.set()
    try:
        client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=30)
    except OSError:
        return False
    client.loop_start()
    try:
        settled.wait(5)
        if not accepted or not accepted[0]:
            return False
        info = client.publish(topics.status(cfg.kiosk.kiosk_id), b"{}", qos=1)
        info.wait_for_publish(5)
        return info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def broker_dir(tmp_path: Path) -> Iterator[Path]:
    with broker_files_dir(tmp_path) as directory:
        yield directory


def test_an_installed_bundle_connects_to_the_provisioned_broker_until_decommissioned(
    hub: Hub, tmp_path: Path, broker_dir: Path
) -> None:
    port = free_port()
    kiosk_dir = bring_up(hub, tmp_path, broker=f"127.0.0.1:{port}")
    owner = mosquitto_file_owner()
    ok(
        *hub.args(
            "broker",
            "config",
            "--out",
            broker_dir,
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            *(["--owner", owner] if owner else []),
        )
    )
    broker = MosquittoBroker(workdir=tmp_path / "run", port=port, config_file=broker_dir / "mosquitto.conf")
    broker.start()
    try:
        assert kiosk_connects(kiosk_dir / "kiosk.toml"), broker.log_path.read_text()[-1500:]
        pid = broker._proc.pid
        stop = f"{sys.executable} -c 'import os, signal; os.kill({pid}, signal.{signal.SIGTERM.name})'"
        ok(*hub.args("kiosk", "decommission", KIOSK, "--restart-cmd", stop))
        broker._proc.wait(10)  # the "restart" stopped it ...
        broker.start()  # ... and it comes back with the new CRL and ACL
        assert not kiosk_connects(kiosk_dir / "kiosk.toml")
    finally:
        broker.kill()


# -- issuers and passes -----------------------------------------------------------------------------


def test_issuer_create_writes_a_0600_private_key(tmp_path: Path) -> None:
    out = ok("issuer", "create", "--name", "VN-HCM", "--alg", "ES256", "--out", tmp_path / "i").stdout
    (private,) = (tmp_path / "i").glob("*.key.pem")
    assert mode(private) == 0o600 and "kid" in out
    refused("issuer", "create", "--name", " ", "--out", tmp_path / "j", match="--name must be")


def _decode_png(path: Path) -> str:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    (code,) = zxingcpp.read_barcodes(image)
    assert code.format == zxingcpp.BarcodeFormat.QRCode
    return code.text


def _verdict(text: str, issuer_pub: Path) -> Any:
    verifier = Verifier(TrustStore.from_paths([issuer_pub]), FlagStore(), PolicyConfig())
    return verifier.verify(text.encode("ascii"), NOW + dt.timedelta(minutes=1))


def test_a_minted_png_decodes_to_exactly_the_pass_and_the_kiosk_accepts_it(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    minted: list[str] = []
    real = provisioning.commands.pass_mint.mint_request

    def spy(*args: Any, **kwargs: Any) -> tuple[str, bytes]:
        text, pass_id = real(*args, **kwargs)
        minted.append(text)
        return text, pass_id

    monkeypatch.setattr(provisioning.commands.pass_mint, "mint_request", spy)
    png = tmp_path / "pass.png"
    mint = ("pass", "mint", "--issuer-key", hub.issuer_key, "--issuer", "VN-HN", "--id", PERSON["id"])
    out = ok(*mint, "--name", PERSON["name"], "--dob", PERSON["dob"], "--valid-days", 30, "--out", png).stdout
    assert _decode_png(png) == minted[0] and minted[0].startswith("VNP1:")
    verdict = _verdict(minted[0], hub.issuer_pub)
    assert verdict.outcome == Outcome.PASS, verdict.reasons
    assert verdict.subject.id_number == PERSON["id"] and verdict.subject.name == PERSON["name"]
    assert verdict.extra.get("pass_id", "") in out
    # `kiosk verify --image` (the kiosk's own decoder) with the issuer key in its trust store.
    result = CliRunner().invoke(kiosk_main, ["verify", "--trust", str(hub.issuer_pub), "--image", str(png)])
    assert json.loads(result.stdout)["verdict"] == "PASS", result.output
    untrusted = CliRunner().invoke(kiosk_main, ["verify", "--image", str(png)])
    assert json.loads(untrusted.stdout)["reasons"] == ["kid_unknown"]

    svg = tmp_path / "pass.svg"
    ok(*mint, "--name", PERSON["name"], "--dob", PERSON["dob"], "--valid-days", 30, "--out", svg, "--ec", "Q")
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()


def test_mint_refuses_bad_input_in_one_line(hub: Hub, tmp_path: Path) -> None:
    base = {
        "--issuer-key": str(hub.issuer_key),
        "--issuer": "VN-HN",
        **{f"--{k}": v for k, v in PERSON.items()},
    }
    base |= {"--valid-days": "30", "--out": str(tmp_path / "p.png")}

    def mint(**changes: str) -> list[str]:
        opts = {**base, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
        return ["pass", "mint", *[x for kv in opts.items() for x in kv]]

    refused(*mint(id="12345"), match="12 digits")
    refused(*mint(dob="1999-02-30"), match="real date")
    refused(*mint(dob="2999-01-01"), match="plausible")
    refused(*mint(name="x" * 81), match="longer than 80")
    refused(*mint(valid_days="0"), match="valid_days must be")
    refused(*mint(out=str(tmp_path / "p.jpg")), match=".png or .svg")
    refused(*mint(out=str(tmp_path / "no/p.png")), match="does not exist")
    refused(*mint(issuer_key=str(tmp_path / "nope.pem")), match="no such file")
    refused(*mint(issuer_key=str(hub.issuer_pub)), match="not an unencrypted Ed25519 or P-256 private key")
    assert not (tmp_path / "p.png").exists()


def test_batch_writes_one_qr_per_good_row_reports_bad_rows_by_line_and_exits_1(
    hub: Hub, tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "id,name,dob,valid_days,zones\n"
        "001099012345,Nguyễn Văn An,1999-01-01,30,\n"  # line 2
        "12345,Bad Id,1999-01-01,30,\n"  # 3
        "001199012345,Trần Thị Bình,1999-02-30,30,\n"  # 4
        "\n"  # 5: blank, skipped by csv
        '079084012345,"Lê Văn Cường",1984-03-03,,hanoi;hcm\n'  # 6: --valid-days applies
        "079084012346,Extra Cell,1984-03-03,7,,oops\n"  # 7
        "079084012347,Short Row\n"  # 8
        "079084012348,,1984-03-03,7,\n",  # 9
        encoding="utf-8",
    )
    out_dir = tmp_path / "passes"
    args = ("pass", "batch", "--issuer-key", hub.issuer_key, "--issuer", "VN-HN", "--csv", people)
    result = run(*args, "--out-dir", out_dir, "--format", "png", "--valid-days", 10)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    problems = {
        int(line.split(" line ")[1].split(":")[0]): line
        for line in result.stderr.splitlines()
        if " line " in line
    }
    assert sorted(problems) == [3, 4, 7, 8, 9], result.stderr
    assert "12 digits" in problems[3] and "real date" in problems[4] and "name is empty" in problems[9]
    assert (
        result.stderr.strip().splitlines()[-1] == "Error: 5 of 7 rows failed (listed above) and were skipped"
    )

    with (out_dir / "manifest.csv").open(encoding="utf-8") as f:
        manifest = list(csv.DictReader(f))
    assert [(m["line"], m["id"]) for m in manifest] == [("2", "001099012345"), ("6", "079084012345")]
    for m in manifest:
        text = _decode_png(out_dir / m["file"])
        verdict = _verdict(text, hub.issuer_pub)
        assert verdict.subject.id_number == m["id"]
        assert verdict.extra.get("pass_id") == m["pass_id"]
    cuong = dt.datetime.fromisoformat(manifest[1]["valid_until"]) - dt.datetime.fromisoformat(
        manifest[1]["valid_from"]
    )
    assert cuong == dt.timedelta(days=10)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [*(m["file"] for m in manifest), "manifest.csv"]
    )

    good = tmp_path / "good.csv"
    good.write_text("id,name,dob\n001099012345,An,1999-01-01\n", encoding="utf-8")
    ok(
        "pass",
        "batch",
        "--issuer-key",
        hub.issuer_key,
        "--issuer",
        "VN-HN",
        "--csv",
        good,
        "--out-dir",
        tmp_path / "svg",
        "--format",
        "svg",
        "--valid-days",
        5,
    )
    assert len(list((tmp_path / "svg").glob("*.svg"))) == 1

    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,name,birth\n", encoding="utf-8")
    batch = (
        "pass",
        "batch",
        "--issuer-key",
        hub.issuer_key,
        "--issuer",
        "VN-HN",
        "--out-dir",
        tmp_path / "x",
    )
    refused(*batch, "--csv", bad_header, "--valid-days", 5, match="header lacks dob")
    bad_header.write_text("id,name,dob,nmae\n", encoding="utf-8")
    refused(*batch, "--csv", bad_header, "--valid-days", 5, match="unknown columns nmae")
    refused(*batch, "--csv", good, match="give --valid-days")
    refused(*batch, "--csv", tmp_path / "missing.csv", match="no such file")
    (tmp_path / "latin1.csv").write_bytes(
        "id,name,dob\n001099012345,Nguy\xean,1999-01-01\n".encode("latin-1")
    )
    refused(*batch, "--csv", tmp_path / "latin1.csv", "--valid-days", 5, match="not UTF-8")


# -- nothing secret or personal in the log ------------------------------------------------------------


def test_no_token_key_name_or_id_number_is_logged_at_info_or_above(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = enroll(hub)
    csr = keygen(tmp_path / "k")
    ok(*hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", tmp_path / "b"))
    refused(
        *hub.args("kiosk", "sign", "--csr", csr, "--token", token, "--out", tmp_path / "b2"), match="used"
    )
    mint = ("pass", "mint", "--issuer-key", hub.issuer_key, "--issuer", "VN-HN", "--id", PERSON["id"])
    result = ok(
        *mint,
        "--name",
        PERSON["name"],
        "--dob",
        PERSON["dob"],
        "--valid-days",
        3,
        "--out",
        tmp_path / "p.png",
    )
    people = tmp_path / "people.csv"
    people.write_text(f"id,name,dob\n{PERSON['id']},{PERSON['name']},{PERSON['dob']}\n1234,Phạm Thị Dung,x\n")
    batch = run(
        "pass",
        "batch",
        "--issuer-key",
        hub.issuer_key,
        "--issuer",
        "VN-HN",
        "--csv",
        people,
        "--out-dir",
        tmp_path / "out",
        "--valid-days",
        3,
    )
    assert batch.exit_code == 1
    ok(*hub.args("kiosk", "decommission", KIOSK, "--no-restart"))

    secrets = [
        token,
        PERSON["id"],
        PERSON["name"],
        "1234",
        "Phạm Thị Dung",
        hub.issuer_key.read_text().splitlines()[1],
        (tmp_path / "k" / "kiosk.key").read_text().splitlines()[1],
        (hub.dir / "ca.key").read_text().splitlines()[1],
    ]
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.name.startswith("provisioning") for r in loud)  # the commands do log what they did
    for record in loud:
        message = record.getMessage()
        assert not any(s in message for s in secrets), message
    # Nor does the terminal output of the pass commands repeat who the pass is for.
    for output in (result.output, batch.output):
        assert PERSON["id"] not in output and PERSON["name"] not in output and "Phạm" not in output


# -- operator mistakes: one line, non-zero, no traceback ---------------------------------------------


def test_missing_files_and_directories_give_one_line_errors(hub: Hub, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    refused("kiosk", "list", "--dir", empty, match="no kiosk registry")
    refused("kiosk", "decommission", KIOSK, "--dir", empty, match="no kiosk registry")
    refused("broker", "config", "--dir", empty, "--out", tmp_path / "b", match="no CA in")
    token = enroll(hub)
    sign = hub.args("kiosk", "sign", "--token", token)
    refused(*sign, "--csr", tmp_path / "none.csr", match="--csr")
    refused(*sign, "--csr", tmp_path, match="is a directory")
    csr = keygen(tmp_path / "k")
    refused(*sign, "--csr", csr, "--hub-key", tmp_path / "none.pem", match="no such file")
    refused(*sign, "--csr", csr, "--trust", tmp_path / "none", match="no such file or directory")
    (tmp_path / "junk.pem").write_text("junk")
    refused(*sign, "--csr", csr, "--trust", tmp_path / "junk.pem", match="junk.pem")
    refused(*sign, "--csr", csr, "--hub-key", tmp_path / "junk.pem", match="not a PEM public key")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    refused(*sign, "--csr", csr, "--out", tmp_path / "full", match="not an empty directory")
    refused(*sign, "--csr", csr, "--out", tmp_path / "none" / "b.tar.gz", match="no such directory")
    (hub.dir / "hub.pub.pem").unlink()
    refused(*sign, "--csr", csr, "--out", tmp_path / "b", match="no hub public key")
    other = Ed25519PrivateKey.generate()
    write_private_key(tmp_path / "hub.key", other)
    (tmp_path / "hub.pub.pem").write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    ok(*sign, "--csr", csr, "--out", tmp_path / "b", "--hub-key", tmp_path / "hub.pub.pem")  # still valid


def test_hub_and_kiosk_work_end_to_end_over_the_provisioned_tls_broker(
    hub: Hub, tmp_path: Path, broker_dir: Path
) -> None:
    """The hub's own identities from `provision hub certs`, a kiosk from its bundle, the generated broker:
    passages are stored and acked, a flag reaches the kiosk, all over TLS with client certificates."""
    from common.flagkey import read_flag_key
    from common.keyfiles import write_private, write_private_key
    from hub.config import HubConfig
    from hub.flags import add_flag
    from hub.service import HubService
    from kiosk.flagsync import FlagSync
    from kiosk.mqtt.link import KioskLink
    from kiosk.store import KioskStore
    from testkit.linkrig import drained, passage_fields, stored_count, wait_for

    signing = Ed25519PrivateKey.generate()
    write_private_key(tmp_path / "hub-signing.pem", signing)
    (hub.dir / "hub.pub.pem").write_bytes(
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    write_private(hub.dir / "flag.key", b"deployment-id-hash-key-0123456789\n")  # as `hub init` makes it
    port = free_port()
    kiosk_dir = bring_up(hub, tmp_path, broker=f"127.0.0.1:{port}")
    assert mode(kiosk_dir / "flag.key") == 0o600
    certs = tmp_path / "hub-certs"
    ok(*hub.args("hub", "certs", "--workers", 2, "--out", certs))
    assert mode(certs / "hub-ingest-1.key") == 0o600
    owner = mosquitto_file_owner()  # no --hub-user: the names `hub certs` issued are granted the hub's rights
    ok(*hub.args("broker", "config", "--out", broker_dir, "--port", port, "--bind", "127.0.0.1",
                 *(["--owner", owner] if owner else [])))  # fmt: skip
    acl = (broker_dir / "acl").read_text()
    assert all(f"user {name}\n" in acl for name in topics.hub_client_ids(2)), acl
    refused(*hub.args("kiosk", "enroll", "hub-flags", "--checkpoint", "c", "--name", "n", "--mode", "self",
                      "--broker", f"127.0.0.1:{port}"), match="hub")  # fmt: skip
    broker = MosquittoBroker(workdir=tmp_path / "run", port=port, config_file=broker_dir / "mosquitto.conf")
    broker.start()
    config = HubConfig.model_validate(
        {
            "database_url": f"sqlite:///{tmp_path / 'hub.db'}",
            "signing_key": str(tmp_path / "hub-signing.pem"),
            "flag_key_file": str(hub.dir / "flag.key"),
            "mqtt": {
                "port": port,
                "workers": 2,
                "tls": {"ca_file": str(certs / "ca.crt"), "cert_dir": str(certs)},
            },
            "http": {"enabled": False},
        }
    )
    service = HubService(config)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    kiosk_cfg = load_config(kiosk_dir / "kiosk.toml")
    assert kiosk_cfg.mqtt is not None and kiosk_cfg.mqtt.tls is not None
    store = KioskStore(tmp_path / "kiosk-state.db")
    updates: list[Any] = []
    assert kiosk_cfg.verify.flag_key_file is not None
    flags = FlagStore(read_flag_key(kiosk_cfg.verify.flag_key_file))  # as the kiosk service builds it
    link = KioskLink(
        kiosk_cfg.mqtt, KIOSK, store, hub_keys=[signing.public_key()], on_update=updates.append,
        flags=FlagSync(store, flags).load(),
    )  # fmt: skip
    try:
        assert service.ready.wait(20)
        for i in range(20):
            store.record(passage_fields(i, KIOSK))
        link.start()
        wait_for(drained(store), 30, "passages acked by the hub over TLS")
        assert stored_count(service.db) == 20
        now = dt.datetime.now(dt.UTC)
        add_flag(service.db, PERSON["id"], "F0", starts_at=now, actor="test", now=now)
        wait_for(lambda: flags.version > 0, 20, "the flag delta over TLS")
        assert flags.person(PERSON["id"], now + dt.timedelta(seconds=1)) is not None  # same key, same hash
    finally:
        link.stop()
        service.stop_event.set()
        thread.join(20)
        broker.kill()


def test_broker_config_keeps_persistence_out_of_etc_and_remembers_where(hub: Hub, tmp_path: Path) -> None:
    in_etc = ("--persistence-dir", "/etc/mosquitto/x")
    refused(
        *hub.args("broker", "config", "--out", tmp_path / "conf", *in_etc), match="read-only for the broker"
    )
    state = tmp_path / "var-lib-mosquitto"
    ok(*hub.args("broker", "config", "--out", tmp_path / "conf", "--persistence-dir", state))
    ok(*hub.args("broker", "config"))  # regenerated (as decommissioning does): the same place
    assert f"persistence_location {state}/" in (tmp_path / "conf" / "mosquitto.conf").read_text()
