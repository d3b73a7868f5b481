"""`kiosk doctor`'s probes: each part checked from outside, as a technician would, beside a running kiosk
where that is possible (the broker under a client id of its own, the store opened read-only)."""

from __future__ import annotations

import contextlib
import sqlite3
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.doctor.checks import Check, Level, Outcome, judge_camera_rate, judge_clock, judge_disk

if TYPE_CHECKING:
    from gpiozero.pins import Factory

    from kiosk.config import KioskConfig
    from kiosk.mqtt.config import MqttConfig

CERT_WARN_DAYS = 30
CARD_FRAMES = 60  # frames kept for the test card (an unpaced replay would otherwise fill the memory)


@dataclass
class CameraProbe:
    """Opens the configured camera once and keeps the frames, for the rate and the test card checks."""

    config: KioskConfig
    seconds: float = 2.0
    frames: deque[Any] = field(default_factory=lambda: deque(maxlen=CARD_FRAMES))  # the newest only
    count: int = 0
    _done: threading.Event = field(default_factory=threading.Event)
    _outcome: Outcome | None = None

    def rate(self) -> Outcome:
        from kiosk.camera.base import CorruptFrame, EndOfStream, SourceError
        from kiosk.camera.config import open_source

        cam = self.config.camera
        try:
            source = open_source(cam)
            try:
                source.open()
            except SourceError as exc:
                self._outcome = (Level.FAIL, f"cannot open {cam.source} camera: {exc}")
                return self._outcome
            started = time.monotonic()
            corrupt = 0
            try:
                while time.monotonic() - started < self.seconds:
                    try:
                        self.frames.append(source.read())
                        self.count += 1
                    except CorruptFrame:
                        corrupt += 1
                    except EndOfStream:
                        break
                    except SourceError as exc:
                        self._outcome = (
                            Level.FAIL,
                            f"{cam.source} camera lost after {self.count} frames: {exc}",
                        )
                        return self._outcome
            finally:
                source.close()
            self._outcome = judge_camera_rate(self.count, time.monotonic() - started, cam.fps)
            if corrupt and self._outcome[0] == Level.OK:
                self._outcome = (Level.WARN, f"{corrupt} corrupt frames; {self._outcome[1]}")
            return self._outcome
        finally:
            self._done.set()

    def card(self) -> Outcome:
        """A test card held up to the camera decodes (the frames `rate` captured)."""
        from kiosk.decode.decoder import QrDecoder

        self._done.wait()
        if not self.frames:
            return Level.FAIL, "no frames to look for the test card in (see camera)"
        decoder = QrDecoder(self.config.decode)
        for i, frame in enumerate(self.frames):
            codes = decoder.decode(frame, None, recover=True)
            if codes:
                return (
                    Level.OK,
                    f"test card decoded ({len(codes[0].raw)} bytes) in frame {i + 1} of {len(self.frames)}",
                )
        return Level.FAIL, f"no QR code in {len(self.frames)} frames: hold the test card up to the camera"


def probe_pins(config: KioskConfig, pin_factory: Factory | None = None) -> Outcome:
    """Claim every configured pin; each light is switched on and off and read back; the gate relay is
    claimed at its locked level and never driven; buttons are read (one reading pressed may be stuck)."""
    from gpiozero import LED, Button, OutputDevice

    ind, btn = config.indicator, config.buttons
    devices: list[Any] = []
    notes: list[str] = []
    try:
        for name in ("green", "red", "amber"):
            pin = getattr(ind, f"{name}_pin")
            light = LED(pin, active_high=ind.lights_active_high, pin_factory=pin_factory)
            devices.append(light)
            light.on()
            on = light.value
            light.off()
            if not on or light.value:
                return (
                    Level.FAIL,
                    f"{name} light on GPIO{pin} does not follow (read {on}, then {light.value})",
                )
        for pin, high in (
            (ind.buzzer_pin, ind.buzzer_active_high),
            (ind.gate_pin, ind.gate_active_high),
        ):
            if pin is not None:
                devices.append(
                    OutputDevice(pin, active_high=high, initial_value=False, pin_factory=pin_factory)
                )
        for name in ("confirm", "pass", "deny"):
            pin = getattr(btn, f"{name}_pin")
            if pin is None:
                continue
            button = Button(pin, pull_up=True, pin_factory=pin_factory)
            devices.append(button)
            if button.is_pressed:
                notes.append(f"{name} button on GPIO{pin} reads pressed (stuck or wired wrong?)")
    except Exception as exc:  # gpiozero's own errors: pin in use, no GPIO chip, bad factory
        hint = " (is `kiosk run` holding the pins?)" if "in use" in str(exc) else ""
        return Level.FAIL, f"{type(exc).__name__}: {exc}{hint}"
    finally:
        for device in reversed(devices):
            with contextlib.suppress(Exception):
                device.close()
    claimed = len(devices)
    if notes:
        return Level.WARN, "; ".join(notes)
    return Level.OK, f"{claimed} pins claimed, lights switched on and off"


def probe_broker(mqtt_config: MqttConfig | None, kiosk_id: str, timeout_s: float = 5.0) -> Outcome:
    """Connect as the kiosk would (its certificate when TLS is configured), under a client id of its own
    (the running kiosk keeps its session), then disconnect. Publishes and subscribes nothing."""
    if mqtt_config is None:
        return Level.OK, "no [mqtt]: a standalone kiosk"
    import paho.mqtt.client as mqtt

    where = f"{mqtt_config.host}:{mqtt_config.port}"
    cert_note = ""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{kiosk_id}-doctor", protocol=mqtt.MQTTv311
    )
    if mqtt_config.tls is not None:
        tls = mqtt_config.tls
        try:
            cert_note = _certificate_note(Path(tls.cert_file))
            client.tls_set(
                ca_certs=tls.ca_file,
                certfile=tls.cert_file,
                keyfile=tls.key_file,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            return Level.FAIL, f"TLS files unusable: {exc}"
        if cert_note.startswith("expired"):
            return Level.FAIL, f"client certificate {cert_note}"
    answer: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer["reason"] = reason
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer.setdefault("gone", reason)  # before a CONNACK: with TLS 1.3 a refused certificate shows so
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(mqtt_config.host, mqtt_config.port, keepalive=10)
    except ssl.SSLError as exc:
        return Level.FAIL, f"TLS handshake with {where} failed: {exc.reason or exc}"
    except OSError as exc:
        return Level.FAIL, f"cannot reach broker {where}: {exc.strerror or exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return Level.FAIL, f"broker {where} did not answer the connection within {timeout_s:g} s"
        if "reason" not in answer:
            return (
                Level.FAIL,
                f"broker {where} hung up before accepting us ({answer.get('gone')}): certificate refused?",
            )
        reason = answer["reason"]
        if reason.is_failure:
            return Level.FAIL, f"broker {where} refused the connection: {reason}"
    finally:
        client.disconnect()
        client.loop_stop()
    mode = "TLS with the kiosk's certificate" if mqtt_config.tls is not None else "plain TCP"
    if cert_note.startswith("expires in"):
        return Level.WARN, f"connected to {where} ({mode}); certificate {cert_note}"
    return Level.OK, f"connected to {where} ({mode}{'; certificate ' + cert_note if cert_note else ''})"


def _certificate_note(path: Path) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    left = cert.not_valid_after_utc - datetime.now(UTC)
    if left.total_seconds() <= 0:
        return f"expired on {cert.not_valid_after_utc.date()}"
    if left.days < CERT_WARN_DAYS:
        return f"expires in {left.days} days"
    return f"valid until {cert.not_valid_after_utc.date()}"


def _stored_versions(config: KioskConfig) -> tuple[dict[str, int], int | None]:
    """The versions the running kiosk saved, and its flag count, read-only (the service may be running)."""
    path = Path(config.kiosk.state_dir) / config.store.filename
    if not path.exists():
        return {}, None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        versions = {str(t): int(v) for t, v in conn.execute("SELECT type, version FROM versions")}
        try:
            flags = int(conn.execute("SELECT count(*) FROM flag_entries").fetchone()[0])
        except sqlite3.OperationalError:
            flags = None
        return versions, flags
    finally:
        conn.close()


def probe_trust(config: KioskConfig) -> Outcome:
    from kiosk.verify.kiosk_trust import KioskTrust

    trust = KioskTrust(config.verify.trust)  # raises on a missing or unreadable file, as `kiosk run` would
    counts = trust.store.counts()
    versions, _ = _stored_versions(config)
    keys = sum(v for k, v in counts.items() if k != "skipped")
    hub = f", hub list v{versions['trust']}" if "trust" in versions else ", no hub list yet"
    detail = f"{keys} keys provisioned ({', '.join(f'{k} {v}' for k, v in counts.items())}){hub}"
    if config.mqtt is not None and config.verify.hub_public_key is None:
        return Level.WARN, f"{detail}; no verify.hub_public_key: every hub update will be refused"
    if keys == 0 and "trust" not in versions:
        return Level.WARN, f"{detail}: only unsigned codes can be read"
    return Level.OK, detail


def probe_flags(config: KioskConfig) -> Outcome:
    from common.flagkey import read_flag_key
    from kiosk.verify.flags import load_flag_file

    if config.verify.flag_key_file is not None:
        read_flag_key(config.verify.flag_key_file)
    provisioned = load_flag_file(config.verify.flags_file) if config.verify.flags_file else None
    versions, count = _stored_versions(config)
    if "flags" in versions:
        return Level.OK, f"flag list v{versions['flags']}, {count} entries (store)"
    if provisioned is not None:
        return Level.OK, f"provisioned flag list v{provisioned.version}, {len(provisioned)} entries"
    return Level.WARN, "no flag list yet (none provisioned, none from the hub)"


def probe_rules(config: KioskConfig) -> Outcome:
    from common.healthrules import RuleSet

    rules = RuleSet.from_paths(config.verify.rules, config.verify.value_sets) if config.verify.rules else None
    versions, _ = _stored_versions(config)
    provisioned = f"{len(rules)} rules provisioned" if rules is not None else "no rules provisioned"
    hub = f", hub set v{versions['rules']}" if "rules" in versions else ""
    return Level.OK, provisioned + hub


def probe_clock(config: KioskConfig) -> Outcome:
    from kiosk.clock import TimeFloor, WallClock
    from kiosk.service import TIME_FLOOR_FILE

    floor = TimeFloor(Path(config.kiosk.state_dir) / TIME_FLOOR_FILE)  # read only: never persisted here
    clock = WallClock(
        assume_trusted=config.kiosk.assume_clock_trusted, floor=floor, tolerance_s=config.policy.clock_skew_s
    )
    return judge_clock(clock.read())


def doctor_checks(
    config: KioskConfig,
    *,
    card: bool = True,
    camera_seconds: float = 2.0,
    pin_factory: Factory | None = None,
    broker_timeout_s: float = 5.0,
) -> list[tuple[str, Check]]:
    state_dir = Path(config.kiosk.state_dir)
    camera = CameraProbe(config, camera_seconds)
    checks: list[tuple[str, Check]] = [("camera", camera.rate)]
    if card:
        checks.append(("card", camera.card))
    checks += [
        ("pins", lambda: probe_pins(config, pin_factory)),
        ("clock", lambda: probe_clock(config)),
        ("broker", lambda: probe_broker(config.mqtt, config.kiosk.kiosk_id, broker_timeout_s)),
        ("trust", lambda: probe_trust(config)),
        ("flags", lambda: probe_flags(config)),
        ("rules", lambda: probe_rules(config)),
        (
            "disk",
            lambda: judge_disk(state_dir, probe=True),
        ),
    ]
    return checks
