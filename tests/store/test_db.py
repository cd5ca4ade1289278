"""Engine set-up, transactions owned by session_scope, and timezone-aware timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import StatementError

from canonical import BusinessEvent, EventType
from store import (
    CrosswalkRepository,
    GoldenCustomer,
    OutboxRepository,
    ProcessedEventRepository,
    SagaFactRepository,
    create_schema,
    make_engine,
    session_scope,
)
from store.db import SCHEMA
from store.models import TABLES
from tests.support.store import count


def test_sqlite_engine_creates_the_folder_and_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'c2c.db'}")
    create_schema(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "a" / "b" / "c2c.db").is_file()
    engine.dispose()


def test_create_schema_is_repeatable(engine: Engine) -> None:
    create_schema(engine)
    with session_scope(engine) as session:
        CrosswalkRepository(session).add_golden("gc_1", "Acme Inc")
    create_schema(engine)
    assert count(engine, GoldenCustomer) == 1


def test_postgres_store_lives_in_its_own_test_schema(postgres_engine: Engine) -> None:
    with postgres_engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        tables = connection.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
        ).scalars()
        assert schema.startswith("c2c_test_")
        assert set(tables) == {table.name for table in SCHEMA}


def test_session_scope_commits_when_the_block_succeeds(engine: Engine) -> None:
    with session_scope(engine) as session:
        CrosswalkRepository(session).add_golden("gc_1", "Acme Inc")
    with session_scope(engine) as session:
        golden = CrosswalkRepository(session).get("gc_1")
        assert golden is not None
        assert golden.normalised_name == "acme"


def write_one_of_everything_then_fail(engine: Engine) -> None:
    now = datetime.now(UTC)
    event = BusinessEvent.for_step(
        workflow_id="c2c:sf:1",
        event_type=EventType.CUSTOMER_CREATED,
        business_key="1",
        time=now,
        data={"golden_id": "g-1", "refs": {}},
    )
    with session_scope(engine) as session:
        crosswalk = CrosswalkRepository(session)
        crosswalk.add_golden("gc_1", "Acme Inc")
        crosswalk.link("gc_1", "salesforce", "001A")
        ProcessedEventRepository(session).record_once("stripe", "evt_1")
        OutboxRepository(session).add(event)
        SagaFactRepository(session).record(
            workflow_id="c2c:sf:1",
            deal_id="1",
            legal_entity="US01",
            currency="USD",
            total_minor=100,
            status="completed",
            completed_at=now,
        )
        session.flush()
        raise RuntimeError("boom")


def test_session_scope_rolls_back_everything_when_the_block_raises(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        write_one_of_everything_then_fail(engine)
    with engine.connect() as connection:
        for table in TABLES:
            assert connection.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one() == 0


def test_timestamps_come_back_timezone_aware_in_utc(engine: Engine) -> None:
    tokyo = timezone(timedelta(hours=9))
    created = datetime(2024, 3, 1, 9, 30, tzinfo=tokyo)
    with session_scope(engine) as session:
        session.add(GoldenCustomer(golden_id="gc_1", legal_name="Acme", normalised_name="acme", created_at=created))
    with session_scope(engine) as session:
        golden = CrosswalkRepository(session).get("gc_1")
        assert golden is not None
        assert golden.created_at == created
        assert golden.created_at.utcoffset() == timedelta(0)
        assert golden.created_at.hour == 0


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    naive = datetime(2024, 3, 1, 9, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as session:
        session.add(GoldenCustomer(golden_id="gc_1", legal_name="Acme", normalised_name="acme", created_at=naive))
    assert count(engine, GoldenCustomer) == 0
