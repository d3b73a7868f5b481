"""`provision kiosk list`: the registry of provisioned kiosks."""

from __future__ import annotations

from pathlib import Path

import click

from common.clitools import emit
from provisioning.commands import dir_option, open_registry


@click.command("list")
@dir_option
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_command(directory: Path, as_json: bool) -> None:
    """Every kiosk: status (pending, active, decommissioned), checkpoint, broker, certificate expiry."""
    registry = open_registry(directory)
    rows = []
    for k in registry.all():
        expiry = registry.latest_expiry(k.kiosk_id)
        rows.append(
            {
                "kiosk_id": k.kiosk_id,
                "status": k.status,
                "checkpoint_id": k.checkpoint_id,
                "mode": k.mode,
                "broker": f"{k.broker_host}:{k.broker_port}",
                "cert_expires": expiry[:10] if expiry else None,
                "name": k.name,
                "location": k.location,
                "enrolled_at": k.enrolled_at,
                "decommissioned_at": k.decommissioned_at,
            }
        )
    columns = ["kiosk_id", "status", "checkpoint_id", "mode", "broker", "cert_expires", "name", "location"]
    emit(rows, columns, as_json)
