"""The `hub` command: the service (`hub serve`) and the operators' tools, one module per job.

Every subcommand reads the same config file (`--config`, or $HUB_CONFIG, or /etc/hub/hub.toml). The CLI
runs on the hub machine as an OS user who can already read the database, so it needs no login; its
actions are audited under `cli:<os user>`.
"""

from __future__ import annotations

import click

from common.extras import require_extra
from common.install_units import install_units_command
from common.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hub")
@click.option(
    "--config",
    "config_path",
    envvar="HUB_CONFIG",
    default="/etc/hub/hub.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="hub TOML config",
)
@click.pass_context
def main(ctx: click.Context, config_path: str) -> None:
    """QR checkpoint hub: ingest, registry forwarding, flags, fleet, traces and reports."""
    ctx.obj = {"config_path": config_path}


def _register() -> None:
    from hub.commands import admin, flags, init, key, queries, rules, serve, trust

    main.add_command(serve.command)
    main.add_command(
        install_units_command(
            "hub", "useradd --system hub; systemctl daemon-reload && systemctl enable --now hub"
        )
    )
    main.add_command(init.command)
    main.add_command(flags.group)
    main.add_command(key.group)
    main.add_command(trust.group)
    main.add_command(rules.group)
    for command in queries.COMMANDS:
        main.add_command(command)
    for command in admin.COMMANDS:
        main.add_command(command)


require_extra("hub", "hub")  # one clear line where another role was installed (a kiosk has no SQLAlchemy)
_register()

if __name__ == "__main__":
    main()
