"""Issuer keys: save/load round trip, minted passes verify with the saved public key only."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from common.trust import TrustStore
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from provisioning.issuer import create_issuer_key, load_issuer_key, mint_pass, save_issuer_key

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_save_load_and_verify_with_public_key_directory(tmp_path, alg):
    key = create_issuer_key("VN-HN", alg)
    private, public = save_issuer_key(key, tmp_path / "keys")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    loaded = load_issuer_key(private, "VN-HN")
    assert loaded.kid == key.kid and loaded.alg == key.alg
    text = mint_pass(
        loaded,
        id_number="001099012345",
        name="An",
        dob="1999-01-01",
        valid_from=NOW,
        valid_until=NOW + dt.timedelta(days=1),
    )
    trust = TrustStore.from_paths([public.parent])  # the directory also holds the private key: ignored
    assert len(trust) == 1
    assert Verifier(trust).verify(text.encode(), NOW).outcome is Outcome.PASS


def test_saving_over_an_older_world_readable_key_leaves_it_0600(tmp_path):
    """Was: os.open(O_TRUNC) kept the old file's 0644 and wrote the new private key into it."""
    key = create_issuer_key("VN-HN", "Ed25519")
    stale = tmp_path / f"{key.kid.hex()}.key.pem"
    stale.write_bytes(b"old")
    stale.chmod(0o644)
    private, _ = save_issuer_key(key, tmp_path)
    assert private == stale and stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_issuer_key(private, "VN-HN").kid == key.kid


def test_bundle_trust_files_keep_their_purpose(tmp_path: Path) -> None:
    """A DSC given as a pass issuer (pass/ subdirectory) and an issuer key given as dcc: (prefix) keep that
    purpose in the bundle's trust directory, as the kiosk then reads it."""
    from provisioning.bundle import collect_trust
    from testkit.dcc import make_signer
    from wire.cose import ALG_ES256

    source = tmp_path / "trust"
    (source / "pass").mkdir(parents=True)
    cert = make_signer(ALG_ES256)
    (source / "pass" / "issuer-cert.pem").write_bytes(cert.pem())
    issuer = create_issuer_key("VN-HN", "ES256")
    _, pub = save_issuer_key(issuer, tmp_path / "keys")
    (source / "plain.pem").write_bytes(issuer.public_pem())
    files = collect_trust([source, f"dcc:{pub}"])
    assert sorted(files) == sorted(["pass/issuer-cert.pem", "plain.pem", f"dcc/{pub.name}"])
    bundle = tmp_path / "bundle"
    for name, data in files.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_bytes(data)
    keys = {(k.purpose, k.kid) for k in TrustStore.from_paths([bundle]).all_keys()}
    assert keys == {("pass", cert.kid), ("pass", issuer.kid), ("dcc", issuer.kid)}
