"""Engine and session plumbing: SQLite file by default, PostgreSQL by URL; the one place commits happen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from store.models import TABLES
from store.ratelimits import RATE_TABLES
from store.shadow import SHADOW_TABLE
from store.usage import USAGE_TABLE
from store.watermarks import WATERMARK_TABLE

SQLITE_BUSY_TIMEOUT_MS = 15_000

# Every table of the store (what create_schema makes).
SCHEMA = [*TABLES, WATERMARK_TABLE, USAGE_TABLE, *RATE_TABLES, SHADOW_TABLE]


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and serialised writers, PostgreSQL pre-ping."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 driver (it skips it for SELECT and SAVEPOINT) so that
    # transactions and savepoints behave as on PostgreSQL; SQLAlchemy emits BEGIN in _begin_immediate.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that read first and writes later fails at once with SQLITE_BUSY when
    # another writer committed meanwhile (the busy timeout does not apply); IMMEDIATE queues writers.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_schema(engine: Engine) -> None:
    """Create the store's tables (and their indexes) where they do not exist yet."""
    SQLModel.metadata.create_all(engine, tables=SCHEMA)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commits when the block succeeds, rolls back when it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
