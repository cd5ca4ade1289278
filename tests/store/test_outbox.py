"""The outbox: idempotent by event id, drained oldest first, published once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from canonical import BusinessEvent, EventType
from store import OutboxEvent, OutboxRepository, session_scope
from tests.support.store import count

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(deal: str, event_type: EventType = EventType.INVOICE_POSTED) -> BusinessEvent:
    return BusinessEvent.for_step(
        workflow_id=f"c2c:salesforce:{deal}",
        event_type=event_type,
        business_key=deal,
        time=WHEN,
        data={"invoice": f"in_{deal}", "erp_invoice": f"INV-{deal}", "total": {"amount": 4900, "currency": "USD"}},
        subject=f"in_{deal}",
    )


def test_adding_the_same_event_twice_queues_it_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert OutboxRepository(session).add(event("D1")) is True
    with session_scope(engine) as session:
        outbox = OutboxRepository(session)
        assert outbox.add(event("D1")) is False
        assert outbox.pending() == [event("D1")]
    assert count(engine, OutboxEvent) == 1


def test_pending_is_oldest_first_and_limited(engine: Engine) -> None:
    for deal in ("D1", "D2", "D3"):
        with session_scope(engine) as session:
            OutboxRepository(session).add(event(deal))
    with session_scope(engine) as session:
        assert [e.businesskey for e in OutboxRepository(session).pending(limit=2)] == ["D1", "D2"]


def test_published_events_leave_pending_and_are_not_requeued(engine: Engine) -> None:
    with session_scope(engine) as session:
        outbox = OutboxRepository(session)
        outbox.add(event("D1"))
        outbox.add(event("D2"))
    with session_scope(engine) as session:
        outbox = OutboxRepository(session)
        assert outbox.mark_published([e.id for e in outbox.pending()]) == 2
    with session_scope(engine) as session:
        outbox = OutboxRepository(session)
        assert outbox.pending() == []
        assert outbox.mark_published([event("D1").id]) == 0
        assert outbox.mark_published([]) == 0
        assert outbox.add(event("D1")) is False
        assert outbox.pending() == []
        row = session.get(OutboxEvent, event("D1").id)
        assert row is not None
        assert row.published_at is not None
        assert row.published_at.tzinfo is not None
        assert (row.type, row.correlation_id, row.business_key) == (
            "invoice.posted",
            "c2c:salesforce:D1",
            "D1",
        )
