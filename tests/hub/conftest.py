"""Hub fixtures: a migrated database on each backend (SQLite file, private PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.db import Database, open_database
from hub.schema import migrate
from testkit.hub_events import T0

_db_counter = itertools.count()


def fresh_postgres_url(server_url: str) -> str:
    """A new empty database on the session's private PostgreSQL, so tests never see each other's rows."""
    name = f"hub_test_{next(_db_counter)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


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
