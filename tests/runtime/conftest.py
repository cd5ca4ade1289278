"""The publisher's tests run on SQLite and, when reachable, on PostgreSQL (tests/support/store_engines.py)."""

from tests.support.store_engines import engine, postgres_engine  # noqa: F401 - fixtures
