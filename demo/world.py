"""Everything the demo's machines are provisioned with: keys, people, camera streams and config files.

All people and documents are synthetic. Each kiosk gets the same crowd in its own order (so the three
streams differ), including Lê Văn Cường, whom the hub flags F0 part-way through the run.
"""

from __future__ import annotations

import random
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.keyfiles import write_private, write_private_key
from demo.mosquitto import free_port
from hub.flag_publisher import write_public_key
from kiosk.simulate import script_for, write_replay_folder
from provisioning.issuer import IssuerKey, create_issuer_key, mint_pass, save_issuer_key

FLAGGED_ID = "079084012345"
FLAGGED_NAME = "Lê Văn Cường"
CROWD_CCCD = [
    "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021",
    "001199012345||Trần Thị Bình|02021999|Nữ|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|20032022",
    f"{FLAGGED_ID}|023456789|{FLAGGED_NAME}|03031984|Nam|Tổ 2, Phường D, Thành phố E, Tỉnh F|23092024||||",
]
REGISTRY_TOKEN = "demo-registry-token"
OPERATOR = ("demo", "demo-operator-password")


@dataclass(frozen=True)
class KioskPlan:
    kiosk_id: str
    checkpoint_id: str
    checkpoint_name: str
    mode: str  # self | assisted
    identity_only: str  # what a bare CCCD gets there: PASS at a supermarket, REVIEW at a road checkpoint


KIOSKS = [
    KioskPlan("kiosk-sieuthi-1", "sieuthi-hanoi-01", "Siêu thị A, Hà Nội", "self", "PASS"),
    KioskPlan("kiosk-gatau-1", "ga-hanoi-01", "Ga Hà Nội, cửa 2", "self", "PASS"),
    KioskPlan("kiosk-chot-1", "chot-ql1a-km12", "Chốt kiểm soát QL1A km 12", "assisted", "REVIEW"),
]


def crowd(keys: Path, trust_dir: Path, now: datetime) -> list[str]:
    """QR texts: three CCCDs (one of them about to be flagged), a valid, an expired and a forged pass,
    and a code that is not a checkpoint code at all. The issuer's key pair goes to `keys`, its public
    half also to the kiosks' `trust_dir`."""
    issuer = create_issuer_key("VN-HN-DEMO")
    _, public = save_issuer_key(issuer, keys)
    trust_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(public, trust_dir)
    forger = create_issuer_key("VN-HN-DEMO")

    def pass_for(key: IssuerKey, id_number: str, name: str, dob: str, days: float) -> str:
        return mint_pass(
            key,
            id_number=id_number,
            name=name,
            dob=dob,
            valid_from=now - timedelta(days=2),
            valid_until=now + timedelta(days=days),
        )

    return [
        *CROWD_CCCD,
        pass_for(issuer, "001099012346", "Phạm Văn Dũng", "1990-05-05", 30),
        pass_for(issuer, "001099012348", "Vũ Văn Giang", "1985-07-07", -1),
        pass_for(forger, "001099012347", "Hoàng Thị Em", "1992-06-06", 30),
        "this is not a checkpoint code",
    ]


@dataclass
class DemoFiles:
    root: Path
    hub_config: Path
    kiosk_configs: dict[str, Path]
    screens: dict[str, int]
    hub_signing_key: Ed25519PrivateKey
    metrics: dict[str, int] = field(default_factory=dict)  # kiosk id -> its Prometheus port


def write_world(
    root: Path, broker_port: int, registry_url: str, hub_http_port: int, now: datetime
) -> DemoFiles:
    """Provision the demo's hub and kiosks in `root` (keys 0600, TOML configs, camera streams)."""
    keys = root / "keys"
    signing_key = Ed25519PrivateKey.generate()
    write_private_key(keys / "hub-signing.pem", signing_key)
    hub_public = write_public_key(keys / "hub-signing.pem", signing_key)
    write_private(keys / "registry.token", REGISTRY_TOKEN.encode())
    write_private(keys / "flag.key", secrets.token_hex(32).encode())  # the id-hash key hub and kiosks share
    hub_config = root / "hub.toml"
    hub_config.write_text(
        f'database_url = "sqlite:///{root / "hub.db"}"\n'
        f'signing_key = "{keys / "hub-signing.pem"}"\n'
        f'flag_key_file = "{keys / "flag.key"}"\n'
        "stale_after_s = 30\n"
        f"[mqtt]\nport = {broker_port}\n"
        f"[http]\nport = {hub_http_port}\n"
        f'[registry]\nurl = "{registry_url}"\ntoken_file = "{keys / "registry.token"}"\n'
        "poll_flags_s = 5\nmax_backoff_s = 5\n"
        f"[metrics]\nport = {free_port()}\n"
    )
    payloads = crowd(keys, root / "trust", now)
    configs: dict[str, Path] = {}
    screens: dict[str, int] = {}
    metrics: dict[str, int] = {}
    for n, plan in enumerate(KIOSKS):
        order = payloads[:]
        random.Random(n).shuffle(order)
        frames = root / plan.kiosk_id / "camera"
        write_replay_folder(frames, script_for(order, hold_frames=5, gap_frames=4), width=480, height=360)
        port = screens[plan.kiosk_id] = free_port()
        path = root / plan.kiosk_id / "kiosk.toml"
        path.write_text(
            "[kiosk]\n"
            f'kiosk_id = "{plan.kiosk_id}"\ncheckpoint_id = "{plan.checkpoint_id}"\n'
            f'checkpoint_name = "{plan.checkpoint_name}"\nmode = "{plan.mode}"\n'
            f'state_dir = "{root / plan.kiosk_id / "state"}"\n'
            "assume_clock_trusted = true  # the demo machine keeps NTP time\n"
            f'[camera]\nsource = "replay"\npath = "{frames}"\n'
            "fps = 8\nloop = true\nwidth = 480\nheight = 360\n"
            "[decode]\ndedupe_window_s = 4\n"
            "[indicator]\ngate_pin = 24\nhold_s = 1.0  # gpiozero mock pins: each kiosk is its own process\n"
            f'[verify]\ntrust = ["{root / "trust"}"]\nhub_public_key = "{hub_public}"\n'
            f'flag_key_file = "{keys / "flag.key"}"\n'
            f'[policy]\nidentity_only = "{plan.identity_only}"\n'
            f"[mqtt]\nport = {broker_port}\nstatus_interval_s = 2\n"
            f"[screen]\nport = {port}\n"
            f"[metrics]\nport = {metrics.setdefault(plan.kiosk_id, free_port())}  # one per kiosk process\n"
        )
        configs[plan.kiosk_id] = path
    return DemoFiles(root, hub_config, configs, screens, signing_key, metrics)
