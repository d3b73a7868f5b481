"""`kiosk demo`: the README's main job (see kiosk/demo.py)."""

from __future__ import annotations

import click

from kiosk.demo import run_demo


@click.command("demo")
@click.option("--fast", is_flag=True, help="replay as fast as possible instead of at camera speed (15 fps)")
def command(fast: bool) -> None:
    """Run the kiosk pipeline on a replayed camera stream and print each decision."""
    run_demo(fps=None if fast else 15.0)
