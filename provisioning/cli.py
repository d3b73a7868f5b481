"""The `provision` command for hub operators: one entry point, one module per job (provisioning/commands/).

provision ca create|import          the hub's certificate authority
provision kiosk enroll|keygen|sign  bring up a kiosk (keygen runs on the kiosk)
provision kiosk list|decommission   the registry of provisioned kiosks
provision broker config             Mosquitto's config and ACL from the registry
provision hub certs                 client certificates for the hub's own connections
provision issuer create             a pass issuer's key pair
provision pass mint|batch           signed checkpoint passes as QR images
"""

from __future__ import annotations

import click

from common.clitools import setup_logging
from common.extras import require_extra
from common.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provision")
@click.option("--log-level", default="WARNING", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def main(log_level: str) -> None:
    """Provision the QR checkpoint fleet: CA, kiosks, broker, pass issuers and passes."""
    setup_logging(log_level, "%(levelname)s %(name)s: %(message)s")


@main.group("ca")
def ca_group() -> None:
    """The hub's certificate authority (signs kiosk and broker certificates)."""


@main.group("kiosk")
def kiosk_group() -> None:
    """Enroll, key, sign, list and decommission kiosks."""


@main.group("broker")
def broker_group() -> None:
    """The Mosquitto broker's configuration."""


@main.group("hub")
def hub_group() -> None:
    """The hub's own broker identities."""


@main.group("issuer")
def issuer_group() -> None:
    """Pass issuers' keys."""


@main.group("pass")
def pass_group() -> None:
    """Signed checkpoint passes (VNP1) as QR images."""


def _register() -> None:
    """Attach every subcommand. Each lives in its own module so that jobs stay independent."""
    from provisioning.commands import (
        broker_config,
        ca,
        decommission,
        enroll,
        hub_certs,
        issuer,
        keygen,
        kiosks,
        pass_batch,
        pass_mint,
        sign,
    )

    ca_group.add_command(ca.create)
    ca_group.add_command(ca.import_)
    kiosk_group.add_command(enroll.command)
    kiosk_group.add_command(keygen.command)
    kiosk_group.add_command(sign.command)
    kiosk_group.add_command(kiosks.list_command)
    kiosk_group.add_command(decommission.command)
    broker_group.add_command(broker_config.command)
    hub_group.add_command(hub_certs.command)
    issuer_group.add_command(issuer.create)
    pass_group.add_command(pass_mint.command)
    pass_group.add_command(pass_batch.command)


# Every command loads the kiosk's config model (bundles), so the kiosk's libraries are the floor: `provision
# kiosk keygen` runs on a kiosk. The pass commands need the whole 'provision' extra (provisioning/qr.py).
require_extra("provision", "kiosk", advise="provision")
_register()

if __name__ == "__main__":
    main()
