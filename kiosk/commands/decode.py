"""`kiosk decode IMAGE...`: placeholder until the decoder lands (filled in by the decode work)."""

from __future__ import annotations

import click


@click.command("decode")
@click.argument("images", nargs=-1, required=True)
def command(images: tuple[str, ...]) -> None:
    """Print one JSON line per QR code found in each image."""
    raise click.ClickException("kiosk decode is not implemented yet")
