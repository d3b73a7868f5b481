"""A kiosk's config bundle: everything `provision kiosk sign` hands to a kiosk, and no private key.

    kiosk.toml    identity, checkpoint, mode, policy defaults, broker address with TLS paths,
                  trust and hub-key paths; validated with the kiosk's own config model before
                  anything is written
    kiosk.crt     the kiosk's client certificate (CN = kiosk id), signed by the hub's CA
    ca.crt        the hub's CA certificate (the broker's server certificate chains to it)
    hub.pub.pem   the hub's Ed25519 public key: flag, trust-list and command updates are signed with it
    trust/*       the initial trust list: issuer public keys and signer certificates
    flag.key      (when the hub has one) the fleet-wide id-hash key: a shared secret, so a tarball
                  holding it, and the file itself in a directory bundle, are created 0600

The kiosk installs the bundle into its config directory (`install_dir`, /etc/kiosk by default)
next to `kiosk.key`, which `provision kiosk keygen` made there and which never leaves the kiosk.
Paths in kiosk.toml are absolute under `install_dir`. No file of the bundle may hold a private key.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tarfile
import tomllib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from common.config_errors import describe
from common.trust import TrustLoadError, load_file
from common.trustfiles import parse_spec
from kiosk.config import KioskConfig
from kiosk.device_identity import CERT_FILE, KEY_FILE
from kiosk.verify.policy import PolicyConfig
from provisioning.inventory import KioskRecord

KIOSK_TOML = "kiosk.toml"
CA_FILE = "ca.crt"
HUB_KEY_FILE = "hub.pub.pem"
FLAG_KEY_FILE = "flag.key"  # the deployment's id-hash key: a shared secret, installed 0600
TRUST_DIR = "trust"
DEFAULT_INSTALL_DIR = PurePosixPath("/etc/kiosk")
DEFAULT_STATE_DIR = "/var/lib/kiosk"
TAR_SUFFIXES = (".tar.gz", ".tgz")


class BundleError(ValueError):
    """Material that must not, or cannot, go into a kiosk's bundle (one line, names the file)."""


def hub_public_key(pem: bytes, source: str) -> bytes:
    """The hub's signing key as a PEM public key; refuses the private key and non-Ed25519 keys."""
    if b"PRIVATE KEY" in pem:
        raise BundleError(
            f"{source} is a private key: give the hub's public key (the .pub.pem of `hub init`)"
        )
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise BundleError(f"{source}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{source}: the hub's signing key must be Ed25519")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def collect_trust(paths: Iterable[str | Path]) -> dict[str, bytes]:
    """Trust files from `[dcc:|pass:]PATH` sources, checked the way the kiosk loads them, keyed by their
    path inside the bundle's trust directory. The purpose survives the copy: a prefixed source, and the
    `dcc/` and `pass/` subdirectories of a directory, land in `dcc/` or `pass/` (the kiosk reads those
    with that purpose); other files sit at the top (purpose by kind: certificate dcc, public key pass)."""
    files: dict[str, bytes] = {}
    for spec in paths:
        path, purpose = parse_spec(spec)
        groups: list[tuple[str | None, list[Path]]]
        if path.is_dir():
            groups = [(purpose, _visible_files(path))]
            if purpose is None:
                groups += [
                    (sub.name, _visible_files(sub)) for sub in (path / "dcc", path / "pass") if sub.is_dir()
                ]
        elif path.is_file():
            groups = [(purpose, [path])]
        else:
            raise BundleError(f"trust {path}: no such file or directory")
        for group_purpose, candidates in groups:
            for file in candidates:
                data = file.read_bytes()
                if b"PRIVATE KEY" in data:
                    raise BundleError(f"{file} holds a private key: trust only public keys and certificates")
                try:
                    load_file(file, group_purpose)
                except TrustLoadError as exc:
                    raise BundleError(str(exc).replace("\n", " ")) from None
                prefix = f"{group_purpose}/" if group_purpose else ""
                name = file.name
                n = 1
                while prefix + name in files:
                    n += 1
                    name = f"{file.stem}-{n}{file.suffix}"
                files[prefix + name] = data
    return files


def _visible_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | PurePosixPath | Path):
        return _toml_string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _kv(key: str, value: object) -> str:
    return f"{key} = {_toml(value)}"


def _policy_lines() -> list[str]:
    lines = []
    for key, value in PolicyConfig().model_dump(mode="json").items():
        if value is None:
            lines.append(f"# {key} = ...  (unset)")
        elif isinstance(value, list):
            lines.append(_kv(key, sorted(value)))
        else:
            lines.append(_kv(key, value))
    return lines


def render_kiosk_toml(
    record: KioskRecord,
    install_dir: PurePosixPath,
    has_trust: bool,
    issued_at: dt.datetime,
    has_flag_key: bool = False,
) -> str:
    d = install_dir
    checkpoint_name = record.name + (f", {record.location}" if record.location else "")
    trust = (
        [_kv("trust", [str(d / TRUST_DIR)])]
        if has_trust
        else ["# trust = []  # no issuer keys were provisioned: every signed pass will be refused"]
    )
    lines = [
        f"# Kiosk {record.kiosk_id}, generated by `provision kiosk sign` on {issued_at:%Y-%m-%d %H:%M} UTC.",
        f"# Install the bundle into {d}, next to {KEY_FILE} (made there by `provision kiosk keygen`;",
        "# it never leaves the kiosk). Start with: kiosk run --config " + str(d / KIOSK_TOML),
        "# [camera], [decode], [indicator], [store], [screen]: defaults apply, see examples/kiosk.toml.",
        "",
        "[kiosk]",
        _kv("kiosk_id", record.kiosk_id),
        _kv("checkpoint_id", record.checkpoint_id),
        _kv("checkpoint_name", checkpoint_name),
        _kv("mode", record.mode),
        _kv("state_dir", DEFAULT_STATE_DIR),
        "",
        "[verify]",
        *trust,
        _kv("hub_public_key", d / HUB_KEY_FILE),
        *([_kv("flag_key_file", d / FLAG_KEY_FILE)] if has_flag_key else []),
        "",
        '# Policy defaults (kiosk/verify/policy.py); adjust per checkpoint, e.g. identity_only = "PASS"',
        "# at a supermarket door. F0 and revoked always DENY whatever is written here.",
        "[policy]",
        *_policy_lines(),
        "",
        "[mqtt]",
        _kv("host", record.broker_host),
        _kv("port", record.broker_port),
        "",
        "[mqtt.tls]",
        _kv("ca_file", d / CA_FILE),
        _kv("cert_file", d / CERT_FILE),
        _kv("key_file", d / KEY_FILE),
    ]
    return "\n".join(lines) + "\n"


def check_config(text: str) -> KioskConfig:
    """Validate kiosk.toml with the kiosk's own model: a bundle that would not start is never written."""
    try:
        return KioskConfig.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(f"generated kiosk.toml is not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise BundleError(f"generated kiosk.toml is invalid: {describe(exc)}".replace("\n", "; ")) from None


def bundle_files(
    record: KioskRecord,
    *,
    cert_pem: bytes,
    ca_pem: bytes,
    hub_key_pem: bytes,
    trust: dict[str, bytes],
    install_dir: PurePosixPath = DEFAULT_INSTALL_DIR,
    issued_at: dt.datetime,
    flag_key: bytes | None = None,
) -> dict[str, bytes]:
    """Relative path -> content of every file of the bundle."""
    if not install_dir.is_absolute():
        raise BundleError(f"--install-dir {install_dir}: must be an absolute path on the kiosk")
    text = render_kiosk_toml(record, install_dir, bool(trust), issued_at, flag_key is not None)
    check_config(text)
    files = {
        KIOSK_TOML: text.encode("utf-8"),
        CERT_FILE: cert_pem,
        CA_FILE: ca_pem,
        HUB_KEY_FILE: hub_key_pem,
        **{f"{TRUST_DIR}/{name}": data for name, data in sorted(trust.items())},
        **({FLAG_KEY_FILE: flag_key} if flag_key is not None else {}),
    }
    for name, data in files.items():
        if b"PRIVATE KEY" in data:
            raise BundleError(f"refusing to write {name}: it holds a private key")
    return files


def _mode(name: str) -> int:
    return 0o600 if name == FLAG_KEY_FILE else 0o644


def is_tarball(out: Path) -> bool:
    return out.name.endswith(TAR_SUFFIXES)


def check_destination(out: Path) -> None:
    """Refuse to overwrite: a bundle is written once, into a new file or an empty directory."""
    if is_tarball(out):
        if out.exists():
            raise BundleError(f"{out} exists: refusing to overwrite")
        if not out.parent.is_dir():
            raise BundleError(f"{out.parent}: no such directory")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} exists and is not an empty directory")


def _create(path: Path, data: bytes, mode: int) -> None:
    """A new file with `mode` from its first byte, whatever the umask (O_EXCL: bundles never overwrite).
    Writing first and chmod-ing after would leave a shared secret world-readable for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask can only have narrowed it; make it exactly `mode`
        with os.fdopen(os.dup(fd), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    finally:
        os.close(fd)


def write_bundle(out: Path, files: dict[str, bytes], mtime: dt.datetime) -> Path:
    """A directory, or a .tar.gz whose members sit at the top level (`tar -xzf B -C /etc/kiosk`).
    The tarball is 0600 as a whole: it may carry flag.key, and a kiosk's config is nobody else's."""
    if is_tarball(out):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            dirs = sorted({str(PurePosixPath(n).parent) for n in files} - {"."})
            for d in dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(mtime.timestamp())
                tar.addfile(info)
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), _mode(name), int(mtime.timestamp())
                tar.addfile(info, io.BytesIO(data))
        _create(out, buffer.getvalue(), 0o600)
        return out
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path, data, _mode(name))
    return out
