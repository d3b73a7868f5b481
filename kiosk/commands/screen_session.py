"""`kiosk screen-session --config FILE`: the kiosk page full screen on the Pi's display, kept running.

common/systemd/kiosk-screen.service runs it inside `cage` on tty1 (docs/screen.md). `--headless` runs the
same browser command without a display, for tests and for checking a kiosk over SSH.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

import click

from common.clitools import setup_logging
from kiosk.config import ConfigError, load_config


@click.command("screen-session")
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="kiosk TOML config"
)
@click.option("--headless", is_flag=True, help="no display: Chromium's headless mode (tests, checks)")
@click.option(
    "--remote-debugging-port",
    "debug_port",
    type=click.IntRange(1, 65535),
    help="open Chromium's DevTools protocol on 127.0.0.1:PORT (tests; never on a kiosk in service)",
)
@click.option(
    "--profile-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the per-start browser profiles go [default: $RUNTIME_DIRECTORY, else the temp dir]",
)
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def command(
    config_path: str, headless: bool, debug_port: int | None, profile_root: Path | None, log_level: str
) -> None:
    """Wait for the kiosk's screen server, show it in Chromium, restart the browser whenever it exits."""
    setup_logging(log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from kiosk.screen.session import BrowserSupervisor, chromium_command, screen_url

    screen = config.screen
    if not screen.enabled:
        raise click.ClickException("screen.enabled is false in the config: the kiosk serves no page to show")
    try:
        url = screen_url(screen)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    runtime = os.environ.get("RUNTIME_DIRECTORY")  # the unit's own /run/kiosk-screen
    root = profile_root or (Path(runtime) if runtime else Path(tempfile.gettempdir()) / "kiosk-screen")
    supervisor = BrowserSupervisor(
        url, lambda profile: chromium_command(screen, profile, headless, debug_port), root
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stop_event.set()  # no locks in a signal handler: the main thread ends the browser

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The loop runs in a thread: it blocks in waitpid, which a signal does not interrupt (PEP 475).
    parent = os.getppid()
    thread = threading.Thread(target=supervisor.run, name="screen-session")
    thread.start()
    orphaned = False
    while thread.is_alive() and not supervisor.stop_event.wait(0.5):
        # cage gone (crashed, killed): the display went with it. End too, so that systemd restarts the
        # whole session instead of a browser being restarted forever with nowhere to draw.
        if os.getppid() != parent:
            orphaned = True
            break
    stopped = supervisor.stop_event.is_set()
    supervisor.stop()
    thread.join()
    if orphaned:
        raise click.ClickException("the parent process (the compositor) is gone: ending the session")
    if not stopped:  # the loop died (its traceback is above): exit non-zero, systemd starts it again
        raise click.ClickException("the browser loop ended unexpectedly")
