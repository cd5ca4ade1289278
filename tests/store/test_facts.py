"""KPI facts: upsert by workflow id and the per-status, per-currency summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from canonical import Money
from store import SagaFact, SagaFactRepository, SagaTotals, session_scope
from tests.support.store import count

DONE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def record(engine: Engine, workflow_id: str, total: Money, status: str = "completed") -> None:
    with session_scope(engine) as session:
        SagaFactRepository(session).record(
            workflow_id=workflow_id,
            deal_id=workflow_id.rsplit(":", 1)[-1],
            legal_entity="US01",
            currency=total.currency,
            total_minor=total.amount,
            status=status,
            completed_at=DONE,
        )


def test_recording_a_saga_again_replaces_its_fact(engine: Engine) -> None:
    record(engine, "c2c:sf:D1", Money(amount=4900, currency="USD"), status="needs_attention")
    record(engine, "c2c:sf:D1", Money(amount=5390, currency="USD"), status="completed")

    with session_scope(engine) as session:
        fact = SagaFactRepository(session).get("c2c:sf:D1")
        assert fact is not None
        assert (fact.status, fact.total_minor, fact.currency, fact.deal_id) == (
            "completed",
            5390,
            "USD",
            "D1",
        )
        assert fact.completed_at == DONE
    assert count(engine, SagaFact) == 1


def test_summary_counts_and_totals_per_status_and_currency(engine: Engine) -> None:
    record(engine, "c2c:sf:D1", Money(amount=4900, currency="USD"))
    record(engine, "c2c:sf:D2", Money(amount=19900, currency="USD"))
    record(engine, "c2c:sf:D3", Money(amount=5_000_000_000, currency="JPY"))  # beyond 32-bit integers
    record(engine, "c2c:sf:D4", Money(amount=4500, currency="EUR"), status="cancelled")

    with session_scope(engine) as session:
        summary = SagaFactRepository(session).summary()

    assert summary == [
        SagaTotals(status="cancelled", currency="EUR", count=1, total=Money(amount=4500, currency="EUR")),
        SagaTotals(status="completed", currency="JPY", count=1, total=Money(amount=5_000_000_000, currency="JPY")),
        SagaTotals(status="completed", currency="USD", count=2, total=Money(amount=24800, currency="USD")),
    ]


def test_completion_time_defaults_to_now_in_utc(engine: Engine) -> None:
    before = datetime.now(UTC)
    with session_scope(engine) as session:
        facts = SagaFactRepository(session)
        facts.record(
            workflow_id="c2c:sf:D1",
            deal_id="D1",
            legal_entity="US01",
            currency="JPY",
            total_minor=7200,
            status="completed",
        )
        fact = facts.get("c2c:sf:D1")
        assert fact is not None
        assert fact.completed_at >= before
        assert fact.completed_at.utcoffset() is not None


def test_an_unknown_currency_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="unsupported currency"), session_scope(engine) as session:
        SagaFactRepository(session).record(
            workflow_id="c2c:sf:D1",
            deal_id="D1",
            legal_entity="US01",
            currency="XXX",
            total_minor=1,
            status="completed",
        )
    assert count(engine, SagaFact) == 0


def test_summary_of_an_empty_store_is_empty(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert SagaFactRepository(session).summary() == []


def test_a_naive_completion_time_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"), session_scope(engine) as session:
        SagaFactRepository(session).record(
            workflow_id="c2c:sf:D1",
            deal_id="D1",
            legal_entity="US01",
            currency="USD",
            total_minor=1,
            status="completed",
            completed_at=datetime(2024, 5, 1),  # noqa: DTZ001 - the point of the test
        )
