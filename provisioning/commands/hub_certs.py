"""`provision hub certs --workers N --out DIR`: a client certificate for each of the hub's connections.

The broker pins each MQTT client id to its certificate's Common Name (a kiosk cannot take over the hub's
session), so the hub's ingest workers and flag publisher each need a certificate of their own, named as
`wire.topics.hub_client_ids` names them. The keys are made here, on the hub machine, with mode 0600.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.keyfiles import write_private_key
from provisioning.commands import dir_option, fail, log, open_ca, open_registry
from wire import topics


@click.command("certs")
@dir_option
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="hub ingest workers"
)
@click.option("--prefix", default="hub", show_default=True, help="the hub config's mqtt.client_id_prefix")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="cert_dir")
@click.option("--days", default=825, show_default=True, type=click.IntRange(1, 3650))
def command(directory: Path, workers: int, prefix: str, out: Path, days: int) -> None:
    """Write <name>.key (0600) and <name>.crt for each hub connection, and the CA certificate."""
    ca = open_ca(directory)
    try:
        names = topics.hub_client_ids(workers, prefix)
        for name in names:
            if not topics.KIOSK_ID.fullmatch(name):
                fail(f"--prefix {prefix!r}: {name!r} is not a valid MQTT identity (lower-case, digits, '-')")
            key = ec.generate_private_key(ec.SECP256R1())
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .sign(key, hashes.SHA256())
            )
            cert = ca.sign_client_csr(csr.public_bytes(serialization.Encoding.PEM), name, days=days)
            write_private_key(out / f"{name}.key", key)
            (out / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        shutil.copyfile(ca.cert_path, out / "ca.crt")
        open_registry(directory, create=True).set_hub_identities(names)
    except OSError as exc:
        fail(f"cannot write the hub certificates in {out}: {exc}")
    log.info("hub certificates for %d connections in %s", len(names), out)
    click.echo(f"wrote {', '.join(names)} in {out}")
    click.echo('hub.toml: [mqtt.tls] ca_file = "' + str(out / "ca.crt") + f'" and cert_dir = "{out}"')
    click.echo("broker:   run `provision broker config` again: it grants these names the hub's rights")
