"""The hub's one config file (TOML), validated once at start."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.config_errors import ConfigError, load_toml_model
from common.metrics import MetricsConfig
from hub.registry.client import check_registry_url
from wire import topics


class HubTlsConfig(BaseModel):
    """Client-certificate TLS for the hub's connections (`provision hub certs` writes these files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path
    cert_dir: Path = Field(description="<client id>.crt and <client id>.key for each hub connection")

    def for_client(self, client_id: str) -> dict[str, str]:
        return {
            "ca_file": str(self.ca_file),
            "cert_file": str(self.cert_dir / f"{client_id}.crt"),
            "key_file": str(self.cert_dir / f"{client_id}.key"),
        }


class HubMqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="ingest workers sharing one subscription")
    client_id_prefix: str = "hub"
    tls: HubTlsConfig | None = None

    def client_ids(self) -> list[str]:
        """Ingest workers first, the flag publisher last (wire.topics.hub_client_ids)."""
        return topics.hub_client_ids(self.workers, self.client_id_prefix)

    def tls_for(self, client_id: str) -> dict[str, str] | None:
        return None if self.tls is None else self.tls.for_client(client_id)


class RegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="https://...; http:// only to loopback (the token must not travel in clear)")
    token_file: Path = Field(description="file holding the bearer token (not the token itself)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_registry_url(value)

    timeout_s: float = Field(10.0, gt=0)
    poll_flags_s: float = Field(60.0, gt=0, description="how often to ask GET /v1/flags")
    batch_size: int = Field(100, ge=1, le=1000, description="events per POST /v1/passages")
    max_backoff_s: float = Field(60.0, gt=0, description="longest wait between retries while it is down")


class HubHttpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    host: str = Field("127.0.0.1", description="put a TLS reverse proxy in front to serve other machines")
    port: int = Field(8090, ge=0, le=65535, description="0: any free port (tests, demo)")
    secure_cookie: bool = Field(False, description="true when served over HTTPS (the proxy)")


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field("sqlite:///var/lib/hub/hub.db", description="sqlite:///... or postgresql://...")
    signing_key: Path = Field(description="the hub's Ed25519 private key (mode 0600)")
    flag_key_file: Path | None = Field(
        None, description="the deployment's id-hash key; absent: development key"
    )
    mqtt: HubMqttConfig = HubMqttConfig()
    registry: RegistryConfig | None = None
    http: HubHttpConfig = HubHttpConfig()
    metrics: MetricsConfig = Field(
        MetricsConfig(port=9102), description="the Prometheus endpoint (hub/metrics.py says why its own port)"
    )
    stale_after_s: float = Field(300.0, gt=0, description="a kiosk silent this long is shown as stale")
    timezone_offset_minutes: int = Field(420, ge=-720, le=840, description="for daily reports (UTC+7)")

    @property
    def zone(self) -> dt.timezone:
        """The zone reports' days and hours, and operators' dates without a zone, are meant in."""
        return dt.timezone(dt.timedelta(minutes=self.timezone_offset_minutes))


def load_hub_config(path: str | Path) -> HubConfig:
    return load_toml_model(path, HubConfig)


__all__ = ["ConfigError", "HubConfig", "load_hub_config"]
