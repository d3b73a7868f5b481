"""`kiosk run --config FILE`: the kiosk service (what systemd starts)."""

from __future__ import annotations

import click

from common.clitools import setup_logging
from kiosk.config import ConfigError, load_config


@click.command("run")
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="kiosk TOML config"
)
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def command(config_path: str, log_level: str) -> None:
    """Scan, verify, light, record and publish until stopped (SIGTERM)."""
    setup_logging(log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from kiosk.service import KioskService

    try:
        service = KioskService(config)
    except (OSError, ValueError) as exc:  # trust files, flag file, hub key: refuse to start half-armed
        raise click.ClickException(f"cannot start: {exc}") from None
    service.install_signal_handlers()
    service.run()
