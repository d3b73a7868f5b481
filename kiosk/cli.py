"""The `kiosk` command: one entry point, one subcommand per job (each in kiosk/commands/)."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from common.extras import require_extra
from kiosk import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kiosk")
def main() -> None:
    """QR checkpoint kiosk: scan, verify offline, light green/red/amber, record, publish."""


def _register() -> None:
    """Attach every subcommand. Each lives in its own module so that jobs stay independent."""
    from common.install_units import install_units_command
    from kiosk.commands import decode, doctor, gate_safe, run, screen_session, trust, verify

    main.add_command(decode.command)
    main.add_command(doctor.command)
    main.add_command(gate_safe.command)
    main.add_command(
        install_units_command("kiosk", "systemctl daemon-reload && systemctl enable --now kiosk")
    )
    main.add_command(run.command)
    main.add_command(screen_session.command)
    main.add_command(trust.command)
    main.add_command(verify.command)
    # Commands that other packages of this distribution add (`kiosk demo` from demo/): through entry
    # points, so the kiosk imports none of them (the layout rule: README, Layout).
    for entry in entry_points(group="kiosk.commands"):
        main.add_command(entry.load(), entry.name)


require_extra("kiosk", "kiosk")  # one clear line, before the commands import the camera and decoder libraries
_register()

if __name__ == "__main__":
    main()
