"""The Mosquitto broker's configuration, generated from the hub's records (contracts.md, MQTT).

Why generated and not hand-written: the broker is the only thing between a kiosk and another
kiosk's topics, so its ACL must follow the same topic definitions kiosk and hub use
(wire/topics.py) and the same identities the hub's CA issues. A typo in a hand-kept ACL is a
kiosk that can forge another kiosk's passages or read its commands.

The model:
- Every client authenticates with a certificate from the hub's CA (`require_certificate`); the
  certificate's Common Name becomes the MQTT username (`use_identity_as_username`), and for a kiosk
  that name is its kiosk id. There is no password and no anonymous access, and no plain-TCP
  listener.
- Kiosk rights are `pattern` lines with `%u`, so one line pins every kiosk to its own topics and
  enrolling a kiosk needs no broker change at all.
- Hub connections (`hub_users`, e.g. "hub") get a `user` block: read every kiosk's events and
  status (also through `$share/...`: Mosquitto checks a shared subscription against the topic
  after the `$share/<group>/` prefix), write acks, commands, flags and trust.
- Because patterns grant rights to *any* name the CA signed, a decommissioned kiosk is shut out by
  revoking its certificate (the CRL, checked at every TLS handshake) and, as a second layer that
  also covers a forgotten older certificate of the same kiosk, by a `user <id>` block that denies
  every topic. `decommission` does both and restarts the broker (see there why a restart).
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.keyfiles import load_private_key, write_private_key
from provisioning.ca import CertificateAuthority
from wire import topics
from wire.envelope import MAX_MQTT_PACKET_BYTES

CONF_FILE = "mosquitto.conf"
ACL_FILE = "acl"
CA_FILE = "ca.crt"
CRL_FILE = "ca.crl"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
PERSISTENCE_DIR = "data"

DEFAULT_HUB_USERS = ("hub",)
SERVER_CERT_RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class BrokerSettings:
    """How the broker listens; everything else follows from the hub's records.

    `bind_address` None listens on every interface (kiosks come over the network); `hostnames` are
    the names and addresses kiosks use to reach the broker, written into its server certificate.
    """

    port: int = 8883
    bind_address: str | None = None
    hostnames: tuple[str, ...] = ("localhost", "127.0.0.1")
    hub_users: tuple[str, ...] = DEFAULT_HUB_USERS
    # MQTT client id := certificate CN. Without it Mosquitto lets any client take over any client
    # id: a kiosk connecting as "hub-ingest-1" throws the hub's ingest off (measured, 2.0.11), and
    # two clients fighting over an id reconnect in a loop. The price: each hub connection needs a
    # certificate of its own, its CN listed in `hub_users`.
    pin_client_ids: bool = True
    persistence: bool = True
    # Where Mosquitto saves its sessions and queued messages; None: DIR/data beside the config (tests,
    # the demo). On a hub, /var/lib/mosquitto: the systemd drop-in's ProtectSystem=strict makes /etc
    # read-only for the broker, so a persistence file under /etc could never be saved.
    persistence_dir: str | None = None
    # A hub that is down for a while must not lose kiosk events queued for its session; kiosks do
    # re-send what is not acked, but re-sending a day's backlog is slow over a weak link.
    max_queued_messages: int = 100_000
    # Explicit, so that a Mosquitto default or a hand edit cannot cut the hub's signed trust list (a national
    # DSC list is ~4 MB, signed envelopes are at most wire.envelope.MAX_ENVELOPE_BYTES = 8 MiB) while still
    # bounding what one client can make the broker buffer: larger packets are refused (the client is
    # disconnected) before Mosquitto buffers them.
    max_packet_size: int = MAX_MQTT_PACKET_BYTES


@dataclass(frozen=True)
class BrokerFiles:
    """The files `write_broker_config` wrote: everything Mosquitto reads, in one directory."""

    directory: Path
    conf: Path
    acl: Path
    cafile: Path
    crlfile: Path
    certfile: Path
    keyfile: Path
    persistence: Path

    @classmethod
    def in_directory(cls, directory: str | Path, persistence_dir: str | Path | None = None) -> BrokerFiles:
        d = Path(directory)
        return cls(
            directory=d,
            conf=d / CONF_FILE,
            acl=d / ACL_FILE,
            cafile=d / CA_FILE,
            crlfile=d / CRL_FILE,
            certfile=d / SERVER_CERT,
            keyfile=d / SERVER_KEY,
            persistence=Path(persistence_dir) if persistence_dir is not None else d / PERSISTENCE_DIR,
        )


def _check_names(kind: str, names: Iterable[str]) -> list[str]:
    """Names become ACL usernames and topic levels: the kiosk-id rules keep `+`, `#`, `/`, spaces out."""
    checked = sorted(set(names))
    for name in checked:
        if not topics.KIOSK_ID.fullmatch(name):
            raise ValueError(f"invalid {kind} {name!r}: lower-case letters, digits and '-' only")
    return checked


def render_acl(
    kiosk_ids: Iterable[str],
    hub_users: Iterable[str] = DEFAULT_HUB_USERS,
    decommissioned: Iterable[str] = (),
) -> str:
    """Text of Mosquitto's `acl_file`.

    The kiosk rights are `pattern` lines (they hold for every username, with `%u` replaced), so
    `kiosk_ids` is not needed to grant anything; it is checked so that no kiosk can be named like
    a hub user (a kiosk certificate with CN "hub" would *be* the hub) and no active kiosk is also
    listed as decommissioned. `decommissioned` kiosks get a deny-all block: Mosquitto checks a
    user's `deny` lines before any grant, patterns included.
    """
    kiosks = _check_names("kiosk id", kiosk_ids)
    hubs = _check_names("hub user", hub_users)
    gone = _check_names("kiosk id", decommissioned)
    if clash := set(kiosks) & set(hubs):
        raise ValueError(f"kiosk ids {sorted(clash)} are hub usernames: a kiosk would get the hub's rights")
    if clash := set(kiosks) & set(gone):
        raise ValueError(f"kiosks {sorted(clash)} are both active and decommissioned")
    if clash := set(hubs) & set(gone):
        raise ValueError(f"hub users {sorted(clash)} cannot be decommissioned kiosks")

    lines = [
        "# Generated by provisioning/broker.py from the hub's records: do not edit, regenerate.",
        "# Usernames are certificate Common Names (use_identity_as_username); a kiosk's is its kiosk id.",
        "",
        "# Every kiosk: its own events and status up, its own acks and commands down, and the",
        "# fleet-wide signed flags and trust list. (Mosquitto warns that the last two patterns have no",
        "# %u: on purpose, a pattern is the only way to grant every authenticated client a topic.)",
        f"pattern write {topics.username_pattern(topics.EVENTS)}",
        f"pattern write {topics.username_pattern(topics.STATUS)}",
        f"pattern read {topics.username_pattern(topics.ACKS)}",
        f"pattern read {topics.username_pattern(topics.COMMANDS)}",
        f"pattern read {topics.FLAGS_ALL}",
        f"pattern read {topics.TRUST}",
        f"pattern read {topics.RULES}",
    ]
    for hub in hubs:
        lines += [
            "",
            f"user {hub}",
            f"topic read {topics.ALL_EVENTS}",
            f"topic read {topics.ALL_STATUS}",
            f"topic write {topics.ALL_ACKS}",
            f"topic write {topics.ALL_COMMANDS}",
            f"topic write {topics.FLAGS_ALL}",
            f"topic write {topics.TRUST}",
            f"topic write {topics.RULES}",
        ]
    for kiosk in gone:
        lines += [
            "",
            "# decommissioned: its certificate is revoked; this also stops any certificate forgotten",
            f"user {kiosk}",
            "topic deny #",
        ]
    return "\n".join(lines) + "\n"


def render_mosquitto_conf(files: BrokerFiles, settings: BrokerSettings = BrokerSettings()) -> str:
    """Text of `mosquitto.conf`: one TLS listener with client certificates, nothing else.

    `per_listener_settings false` because there is only one listener: `allow_anonymous false` and
    the ACL file then hold for the whole broker, and a listener added later by hand cannot quietly
    come without them. `tls_version tlsv1.2` is Mosquitto 2's *minimum* version (1.3 is used when
    both sides have it).
    """
    listener = f"listener {settings.port}" + (f" {settings.bind_address}" if settings.bind_address else "")
    lines = [
        "# Generated by provisioning/broker.py from the hub's records: do not edit, regenerate.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {files.acl}",
        f"persistence {'true' if settings.persistence else 'false'}",
        f"persistence_location {files.persistence}/",
        f"max_queued_messages {settings.max_queued_messages}",
        f"max_packet_size {settings.max_packet_size}",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        "",
        listener,
        "protocol mqtt",
        f"cafile {files.cafile}",
        f"certfile {files.certfile}",
        f"keyfile {files.keyfile}",
        f"crlfile {files.crlfile}",
        "require_certificate true",
        "use_identity_as_username true",
        *(["use_username_as_clientid true"] if settings.pin_client_ids else []),
        "tls_version tlsv1.2",
    ]
    return "\n".join(lines) + "\n"


READ_ONLY_FOR_BROKER = (Path("/etc"), Path("/usr"), Path("/boot"))  # ProtectSystem=strict in the drop-in


def check_persistence_location(path: Path) -> None:
    """Refuse a persistence directory the hardened broker cannot write (it would lose every session)."""
    resolved = path.resolve()
    for root in READ_ONLY_FOR_BROKER:
        if resolved == root or root in resolved.parents:
            raise ValueError(
                f"persistence in {path} is read-only for the broker (ProtectSystem=strict in its systemd "
                "drop-in): put it under /var/lib/mosquitto (--persistence-dir)"
            )


def write_broker_config(
    directory: str | Path,
    ca: CertificateAuthority,
    kiosk_ids: Iterable[str],
    settings: BrokerSettings = BrokerSettings(),
    decommissioned: Iterable[str] = (),
    owner: str | None = None,
) -> BrokerFiles:
    """Write the broker's directory: config, ACL, CA certificate, CRL, server certificate and key.

    The CA certificate and CRL are copied, not referenced, so the broker never needs to read the
    CA's directory (which holds the CA key). The server key is made once and kept (0600); the
    server certificate is reissued only when it is missing, not from this CA, for other hostnames,
    or close to expiry. The ACL is rendered first, so bad records leave the old config in place.

    `owner`: the user Mosquitto runs as. Started as root (as Debian's service does), Mosquitto 2
    drops to the `mosquitto` user *before* it reads the ACL file, the certificates and the key,
    and saves its persistence file as that user; so the directory and files must be that user's,
    with the key still 0600. Changing owners needs root; leave it None when not root.
    """
    files = BrokerFiles.in_directory(directory, settings.persistence_dir)
    check_persistence_location(files.persistence)
    acl = render_acl(kiosk_ids, settings.hub_users, decommissioned)
    files.directory.mkdir(parents=True, exist_ok=True)
    files.persistence.mkdir(parents=True, exist_ok=True)
    _ensure_server_cert(files, ca, settings.hostnames)
    shutil.copyfile(ca.cert_path, files.cafile)
    shutil.copyfile(ca.write_crl(), files.crlfile)
    files.acl.write_text(acl)
    files.conf.write_text(render_mosquitto_conf(files, settings))
    if owner is not None:
        _give_to(owner, files)
    return files


def _give_to(owner: str, files: BrokerFiles) -> None:
    user = pwd.getpwnam(owner)
    for path in (
        files.directory,
        files.persistence,
        files.conf,
        files.acl,
        files.cafile,
        files.crlfile,
        files.certfile,
        files.keyfile,
    ):
        os.chown(path, user.pw_uid, user.pw_gid)


def _ensure_server_cert(files: BrokerFiles, ca: CertificateAuthority, hostnames: Sequence[str]) -> None:
    if files.keyfile.exists():
        key = load_private_key(files.keyfile)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{files.keyfile} is not an EC key")
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        write_private_key(files.keyfile, key)
    if files.certfile.exists() and _server_cert_fits(
        x509.load_pem_x509_certificate(files.certfile.read_bytes()), key, ca, hostnames
    ):
        return
    cert = ca.issue_server_cert(key, list(hostnames))
    files.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _server_cert_fits(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    ca: CertificateAuthority,
    hostnames: Sequence[str],
) -> bool:
    try:
        cert.verify_directly_issued_by(ca.cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if cert.public_key() != key.public_key():
        return False
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < SERVER_CERT_RENEW_BEFORE:
        return False
    have = {str(n.value) for n in names}
    return have == set(hostnames)


def decommission(
    certificates: Sequence[x509.Certificate],
    ca: CertificateAuthority,
    directory: str | Path,
    kiosk_ids: Iterable[str],
    restart: Callable[[], None],
    settings: BrokerSettings = BrokerSettings(),
    decommissioned: Iterable[str] = (),
    owner: str | None = None,
) -> BrokerFiles:
    """Take a kiosk off the broker: revoke its certificates, regenerate the config, restart the broker.

    `certificates` are the kiosk's certificates still in their validity period (all must name the
    same kiosk); `kiosk_ids` and `decommissioned` are the hub's records *before* this call, and the
    kiosk moves from one to the other in the files written. `owner` as for `write_broker_config`.

    Why `restart` and not a reload (SIGHUP), measured with Mosquitto 2.0.11: the CRL is checked only
    in the TLS handshake, so a kiosk that is already connected stays connected when the CRL changes.
    A SIGHUP does load the new CRL for *new* handshakes and re-reads the ACL file (so the deny block
    mutes the live session: nothing in, nothing out), but it keeps the connection open: Mosquitto
    only re-checks that the certificate's CN still equals the username. Only a restart closes the
    live session; the kiosk's reconnection then fails the handshake. Other kiosks reconnect on their
    own, and persistent sessions survive a clean restart (SIGTERM saves them).
    `restart` is how this host does it, e.g. `systemctl restart mosquitto`.
    """
    names = {_common_name(c) for c in certificates}
    if len(names) != 1:
        raise ValueError(f"certificates must all belong to one kiosk, got {sorted(names)}")
    kiosk_id = names.pop()
    active = set(kiosk_ids)
    if kiosk_id not in active:
        raise ValueError(f"{kiosk_id!r} is not an active kiosk")
    for cert in certificates:
        ca.revoke(cert, reason="decommissioned")
    gone = {*decommissioned, kiosk_id}
    files = write_broker_config(directory, ca, active - {kiosk_id}, settings, gone, owner)
    restart()
    return files


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise ValueError("certificate has no single Common Name")
    return str(names[0].value)
