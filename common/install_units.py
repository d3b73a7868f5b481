"""`kiosk install-units` / `hub install-units`: render the systemd unit templates and install them.

Each machine installs only its own units: a kiosk gets `kiosk.service` and `kiosk-screen.service` (the
page on its own display, docs/screen.md); the hub gets `hub.service` and the Mosquitto drop-in
(`mosquitto.service.d/checkpoint.conf`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

# The unit templates ship inside this package (pyproject.toml package data), so an installed wheel finds them
# as a checkout does; the one copy lives in common/systemd/.
UNIT_DIR = Path(__file__).resolve().parent / "systemd"
# Documentation= links in the units point here: the checkout holding README.md and docs/ (in a wheel install,
# pass --prefix where the docs are; a link to a file that is not there is left out, see render_unit).
SOURCE_ROOT = Path(__file__).resolve().parents[1]
ROLES: dict[str, list[str]] = {
    "kiosk": ["kiosk.service", "kiosk-screen.service"],
    "hub": ["hub.service", "mosquitto.service.d/checkpoint.conf"],
}


def render_unit(template: str, prefix: Path, venv: Path) -> str:
    """The unit with this machine's paths. A `Documentation=file://` link to a file that is not there (an
    installed wheel has no README or docs/ beside it) is left out: `systemctl help` on a dangling link
    only confuses the technician."""
    text = template.replace("@PREFIX@", str(prefix)).replace("@VENV@", str(venv))
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if not line.startswith("Documentation=file://")
        or Path(line.removeprefix("Documentation=file://").strip()).exists()
    ]
    return "".join(kept)


def render_all(dest: Path, prefix: Path, venv: Path, role: str | None = None) -> list[Path]:
    """Render the units of `role` (every unit when None) into `dest`, keeping drop-in directories."""
    names = ROLES[role] if role else [n for names in ROLES.values() for n in names]
    written = []
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_unit((UNIT_DIR / name).read_text(), prefix, venv))
        written.append(target)
    return written


def install_units_command(role: str, then: str) -> click.Command:
    @click.command("install-units")
    @click.option(
        "--dest",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("/etc/systemd/system"),
        show_default=True,
    )
    @click.option(
        "--prefix",
        type=click.Path(file_okay=False, path_type=Path),
        default=SOURCE_ROOT,
        show_default=True,
    )
    def command(dest: Path, prefix: Path) -> None:
        """Write this machine's systemd units with this checkout's paths."""
        venv = Path(sys.prefix)
        for path in render_all(dest, prefix.resolve(), venv, role):
            click.echo(f"wrote {path}")
        click.echo(f"now: {then}")

    return command
