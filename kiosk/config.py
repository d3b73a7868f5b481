"""The kiosk's one config file (TOML), validated once at start into typed, frozen sections.

Each section's model lives next to the code it configures (camera/, decode/, display/, ...);
this module only composes them, so a typo anywhere is reported with its full key at start-up
and never surfaces later as a half-working kiosk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from common.config_errors import ConfigError, load_toml_model
from common.metrics import MetricsConfig
from kiosk.camera.config import CameraConfig
from kiosk.decode.config import DecodeConfig
from kiosk.display.buttons import ButtonsConfig
from kiosk.display.config import IndicatorConfig
from kiosk.mqtt.config import MqttConfig
from kiosk.store.config import StoreConfig
from kiosk.verify.policy import PolicyConfig
from wire.identity import SLUG_ID_PATTERN

ID_PATTERN = SLUG_ID_PATTERN  # also a broker username and an MQTT topic level


class IdentityConfig(BaseModel):
    """Who and where this kiosk is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kiosk_id: str = Field(pattern=ID_PATTERN)
    checkpoint_id: str = Field(pattern=ID_PATTERN)
    checkpoint_name: str = ""
    mode: Literal["self", "assisted"] = "self"
    state_dir: Path = Path("/var/lib/kiosk")
    assume_clock_trusted: bool = Field(False, description="true only with an RTC or GPS time source")


class VerifyConfig(BaseModel):
    """Where the provisioned trust material lives (paths are read once at start)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trust: list[Path] = Field(
        default_factory=list,
        description="trust sources [dcc:|pass:]PATH: PEM/DER files, JSON DSC lists or dirs (README, Trust)",
    )
    flags_file: Path | None = Field(None, description="initial flag list (JSON); the hub's deltas follow")
    hub_public_key: Path | None = Field(None, description="the hub's Ed25519 signing key (PEM)")
    flag_key_file: Path | None = Field(
        None, description="the deployment's id-hash key, the hub's flag_key_file (mode 0600); absent: dev key"
    )
    rules: list[Path] = Field(
        default_factory=list,
        description="health rule files (EU rule format) until the hub pushes its signed set; none: no rules",
    )
    value_sets: list[Path] = Field(
        default_factory=list,
        description="EU value set files or dirs; absent: the ones shipped with the kiosk",
    )


class ScreenConfig(BaseModel):
    """The local result screen (Chromium in kiosk mode opens http://127.0.0.1:PORT/)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0: any free port (tests)")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="names the screen may be reached by besides localhost, 127.0.0.1, [::1] and `host`"
        " (the Host header is checked: DNS rebinding)",
    )
    # `kiosk screen-session` (common/systemd/kiosk-screen.service): the browser on the Pi's own display.
    browser: str = Field("chromium", description="the browser `kiosk screen-session` runs (Debian: chromium)")
    size: tuple[PositiveInt, PositiveInt] = Field(
        (800, 480),
        description="the display's [width, height] in pixels (the official 7-inch Pi display: 800x480)",
    )


class KioskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kiosk: IdentityConfig
    camera: CameraConfig = CameraConfig()
    decode: DecodeConfig = DecodeConfig()
    indicator: IndicatorConfig = IndicatorConfig()
    buttons: ButtonsConfig = ButtonsConfig()
    verify: VerifyConfig = VerifyConfig()
    policy: PolicyConfig = PolicyConfig()
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig | None = Field(None, description="absent: a standalone kiosk that only records locally")
    screen: ScreenConfig = ScreenConfig()
    metrics: MetricsConfig = Field(MetricsConfig(), description="the Prometheus endpoint (common/metrics.py)")

    @model_validator(mode="after")
    def _pins_not_shared(self) -> KioskConfig:
        i, b = self.indicator, self.buttons
        outputs = {i.green_pin, i.red_pin, i.amber_pin, i.buzzer_pin, i.gate_pin} - {None}
        inputs = [p for p in (b.confirm_pin, b.pass_pin, b.deny_pin) if p is not None]
        if len(inputs) != len(set(inputs)) or outputs & set(inputs):
            raise ValueError(f"button pins {inputs} must be distinct and not used by the indicator")
        return self


def load_config(path: str | Path) -> KioskConfig:
    """Load and validate; raises ConfigError naming each bad key."""
    return load_toml_model(path, KioskConfig)


__all__ = ["ConfigError", "KioskConfig", "load_config"]
