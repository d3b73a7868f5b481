"""`kiosk install-units`: render the systemd unit templates for this installation and install them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"


def render_unit(template: str, prefix: Path, venv: Path) -> str:
    return template.replace("@PREFIX@", str(prefix)).replace("@VENV@", str(venv))


def render_all(dest: Path, prefix: Path, venv: Path) -> list[Path]:
    written = []
    for template in sorted(UNIT_DIR.glob("*.service")) + sorted(UNIT_DIR.glob("*.conf")):
        target = dest / template.name
        target.write_text(render_unit(template.read_text(), prefix, venv))
        written.append(target)
    return written


@click.command("install-units")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/systemd/system"),
    show_default=True,
)
@click.option(
    "--prefix", type=click.Path(file_okay=False, path_type=Path), default=UNIT_DIR.parent, show_default=True
)
def command(dest: Path, prefix: Path) -> None:
    """Write the kiosk units with this checkout's paths; then run `systemctl daemon-reload`."""
    venv = Path(sys.prefix)
    dest.mkdir(parents=True, exist_ok=True)
    for path in render_all(dest, prefix.resolve(), venv):
        click.echo(f"wrote {path}")
    click.echo("now: systemctl daemon-reload && systemctl enable --now kiosk")
