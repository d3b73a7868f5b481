"""The `kiosk` command: one entry point, one subcommand per job (each in kiosk/commands/)."""

from __future__ import annotations

import click

from kiosk import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kiosk")
def main() -> None:
    """QR checkpoint kiosk: scan, verify offline, light green/red/amber, record, publish."""


def _register() -> None:
    """Attach every subcommand. Each lives in its own module so that jobs stay independent."""
    from kiosk.commands import decode, demo, doctor, gate_safe, install_units, run, trust, verify

    main.add_command(decode.command)
    main.add_command(demo.command)
    main.add_command(doctor.command)
    main.add_command(gate_safe.command)
    main.add_command(install_units.command)
    main.add_command(run.command)
    main.add_command(trust.command)
    main.add_command(verify.command)


_register()

if __name__ == "__main__":
    main()
