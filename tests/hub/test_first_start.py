"""`hub init`'s workflow as a function (hub/first_start.py): keys made once with mode 0600, never
replaced, the schema brought up, on both database backends."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from hub.config import load_hub_config
from hub.first_start import initialise
from hub.flag_publisher import load_signing_key
from wire.envelope import public_pem

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def test_initialise_makes_keys_once_and_migrates(db_url: str, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    path = tmp_path / "hub.toml"
    path.write_text(
        f'database_url = "{db_url}"\n'
        f'signing_key = "{keys / "hub-signing.pem"}"\n'
        f'flag_key_file = "{keys / "id-hash.key"}"\n'
    )
    config = load_hub_config(path)
    first = initialise(config, T0)
    assert first.signing_key == keys / "hub-signing.pem" and first.signing_key_created
    assert first.id_hash_key_created == keys / "id-hash.key"
    assert first.migrations and "@" not in first.database and first.database in db_url
    for made in (first.signing_key, keys / "id-hash.key"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made
    signing = load_signing_key(first.signing_key)
    assert first.public_key.read_bytes() == public_pem(signing.public_key())
    before = (first.signing_key.read_bytes(), (keys / "id-hash.key").read_bytes())

    again = initialise(config, T0)
    assert not again.signing_key_created and again.id_hash_key_created is None and again.migrations == []
    assert (again.signing_key.read_bytes(), (keys / "id-hash.key").read_bytes()) == before
    assert again.public_key.read_bytes() == first.public_key.read_bytes()
