"""Hub fixtures: a migrated database on each backend (SQLite file, private PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.db import Database, open_database
from hub.schema import migrate
from testkit.hub_events import T0
from testkit.services import fresh_postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return fresh_postgres_url(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated hub database on each backend."""
    database = open_database(db_url)
    migrate(database, T0)
    try:
        yield database
    finally:
        database.dispose()
