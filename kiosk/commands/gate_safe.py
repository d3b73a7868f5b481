"""`kiosk gate-safe`: lock the gate relay after the kiosk process died, whatever killed it.

systemd runs this as ExecStopPost, which also fires after SIGKILL, an OOM kill or a watchdog
timeout: cases in which no code inside the dead process could run.
"""

from __future__ import annotations

import click

from kiosk.config import ConfigError, load_config
from kiosk.display import force_gate_closed


@click.command("gate-safe")
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="kiosk TOML config"
)
def command(config_path: str) -> None:
    """Drive the gate relay to its locked level and release the pin."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if force_gate_closed(config.indicator):
        click.echo(f"gate on GPIO{config.indicator.gate_pin} locked")
    else:
        click.echo("no gate configured")
