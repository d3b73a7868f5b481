"""`kiosk demo`: one kiosk pipeline on a replayed camera stream (see demo/single_kiosk.py).

Registered on the `kiosk` command through the `kiosk.commands` entry point (pyproject.toml), so the
kiosk package never imports the demo (which mints passes with the provisioning tools).
"""

from __future__ import annotations

import click

from demo.single_kiosk import run_demo


@click.command("demo")
@click.option("--fast", is_flag=True, help="replay as fast as possible instead of at camera speed (15 fps)")
def command(fast: bool) -> None:
    """Run the kiosk pipeline on a replayed camera stream and print each decision."""
    run_demo(fps=None if fast else 15.0)
