"""The `[mqtt]` section: broker, session, end-to-end delivery and reconnect parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TlsConfig(BaseModel):
    """Client-certificate TLS (the provisioning bundle fills these in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str
    cert_file: str
    key_file: str


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["auto", "5", "3.1.1"] = Field("auto", description="auto: MQTT 5, falling back to 3.1.1")
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="MQTT 5: how long the broker keeps our subscriptions while we are away",
    )
    ack_timeout_s: float = Field(15.0, gt=0, description="re-send events the hub has not acked within this")
    batch_size: int = Field(100, ge=1, le=1000, description="events per MQTT message")
    max_inflight_batches: int = Field(10, ge=1, le=1000)
    backoff_min_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    status_interval_s: float = Field(30.0, gt=0)
    tls: TlsConfig | None = None
