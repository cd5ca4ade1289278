"""Store fixtures: a test runs on SQLite and, when reachable, on PostgreSQL in a throwaway schema (the store's
tests via tests/store/conftest.py, and any other test that takes `engine` after importing these)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from store import create_schema, make_engine
from store.models import TABLES
from store.ratelimits import RATE_TABLES

PG_URL_ENV = "C2C_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """An engine on a fresh `c2c_test_<random>` schema (search_path set in the URL), dropped at the end."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"PostgreSQL store tests need {PG_URL_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    admin = create_engine(url, connect_args={"connect_timeout": 3})
    schema = f"c2c_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc.orig).splitlines()[0]
        pytest.skip(f"PostgreSQL at {make_url(url).render_as_string()} is not reachable: {reason}")
    scoped_url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(scoped_url.render_as_string(hide_password=False))
    try:
        create_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store with the schema created and no rows."""
    if request.param == "sqlite":
        sqlite = make_engine(f"sqlite:///{tmp_path / 'store' / 'c2c.db'}")
        create_schema(sqlite)
        yield sqlite
        sqlite.dispose()
        return
    postgres: Engine = request.getfixturevalue("postgres_engine")
    with postgres.begin() as connection:
        names = ", ".join(table.name for table in [*TABLES, *RATE_TABLES])
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    yield postgres
