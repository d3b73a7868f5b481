"""`kiosk trust`: list the keys a kiosk trusts (kid, purpose, country, subject, validity, allowed types)
and the entries it skipped with the reason, from its config and the hub's saved list, or from --trust.

Read-only: the saved hub list is read from the kiosk's SQLite file opened read-only, so this is safe
beside a running kiosk. It builds the trust exactly as the service does (kiosk/verify/kiosk_trust.py).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import click

from common.clitools import emit, json_option
from common.trust import TrustedKey, TrustLoadError
from kiosk.config import ConfigError, load_config
from kiosk.verify.kiosk_trust import KioskTrust
from wire.envelope import Signed
from wire.errors import WireError

COLUMNS = ["kid", "purpose", "country", "subject", "not_before", "not_after", "types", "source"]


def key_row(key: TrustedKey) -> dict[str, object]:
    """One listing row. kid in base64, as national lists and HCERT tools print it."""
    return {
        "kid": base64.b64encode(key.kid).decode("ascii"),
        "purpose": key.purpose,
        "country": key.country,
        "subject": key.subject,
        "not_before": key.not_before.isoformat() if key.not_before else None,
        "not_after": key.not_after.isoformat() if key.not_after else None,
        "types": "".join(sorted(key.allowed_types)) if key.allowed_types is not None else "any",
        "source": key.source + (" (read tolerantly)" if key.tolerant else ""),
    }


def saved_hub_list(database: Path) -> tuple[int, str] | None:
    """(version, body) of the hub's trust list the kiosk saved, or None (no list or no database)."""
    if not database.exists():
        return None
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version, body FROM documents WHERE name = 'trust-list'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else (int(row[0]), str(row[1]))


@click.command("trust")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="kiosk TOML config")
@click.option(
    "--trust", "sources", multiple=True, metavar="[dcc:|pass:]PATH", help="list these sources instead"
)
@json_option
def command(config_path: str | None, sources: tuple[str, ...], as_json: bool) -> None:
    """List trusted keys, then skipped entries with the reason (what `kiosk run` would verify with)."""
    if (config_path is None) == (not sources):
        raise click.UsageError("give --config FILE or --trust SOURCE (repeatable)")
    saved = None
    try:
        if config_path is not None:
            config = load_config(config_path)
            trust = KioskTrust(config.verify.trust)
            saved = saved_hub_list(Path(config.kiosk.state_dir) / config.store.filename)
        else:
            trust = KioskTrust(sources)
        if saved is not None:
            trust.apply(Signed("trust", saved[0], "", json.loads(saved[1]), ""))
    except (ConfigError, TrustLoadError, WireError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    keys = sorted(trust.store.all_keys(), key=lambda k: (k.purpose, k.country, k.kid))
    skipped = trust.store.skipped
    if as_json:
        rows = [key_row(k) for k in keys]
        click.echo(
            json.dumps(
                {
                    "hub_list_version": saved[0] if saved else None,
                    "counts": trust.store.counts(),
                    "keys": rows,
                    "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    emit([key_row(k) for k in keys], COLUMNS, False)
    counts = trust.store.counts()
    click.echo(
        f"{len(keys)} keys (dcc {counts['dcc']}, pass {counts['pass']}), {len(skipped)} skipped"
        + (f"; hub list version {saved[0]}" if saved else "")
    )
    for item in skipped:
        click.echo(f"skipped {item}")
