"""`kiosk doctor --config FILE`: check camera, test card, pins, clock, broker, trust, flags, rules and disk
in one command; one line per check, exit 1 on any FAIL (kiosk/doctor/ holds the checks)."""

from __future__ import annotations

import click

from kiosk.config import ConfigError, load_config


@click.command("doctor")
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="kiosk TOML config"
)
@click.option("--card/--no-card", default=True, help="expect a test card held up to the camera")
@click.option("--seconds", default=2.0, type=click.FloatRange(0.1, 30), help="how long to watch the camera")
@click.option("--timeout", default=15.0, type=click.FloatRange(1, 300), help="seconds before a check FAILs")
def command(config_path: str, card: bool, seconds: float, timeout: float) -> None:
    """Check this kiosk's parts; safe beside a running kiosk except for the camera and pins it holds."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from kiosk.doctor import Level, doctor_checks, run_checks, worst

    results = run_checks(doctor_checks(config, card=card, camera_seconds=seconds), timeout_s=timeout)
    for result in results:
        click.echo(result.line())
    if worst(results) == Level.FAIL:
        raise SystemExit(1)
