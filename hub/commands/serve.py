"""`hub serve`: the hub service (what systemd starts)."""

from __future__ import annotations

import click

from common.clitools import setup_logging
from hub.commands import config_of


@click.command("serve")
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_context
def command(ctx: click.Context, log_level: str) -> None:
    """Ingest kiosk events, forward them to the registry, publish flags, serve the operators' API."""
    setup_logging(log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_of(ctx)
    from hub.service import HubService

    try:
        service = HubService(config)
    except (OSError, ValueError) as exc:  # key file, token file, database URL: refuse to start half-armed
        raise click.ClickException(f"cannot start: {exc}") from None
    service.install_signal_handlers()
    service.run()
