"""Business events written to a real store's outbox, for the publisher and replay tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from canonical import BusinessEvent, EventType
from store import OutboxRepository, session_scope

WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
# The types a deal's saga emits, in its order (any distinct types do: the tests count and order ids).
SEQUENCE = [
    EventType.CUSTOMER_CREATED,
    EventType.SUBSCRIPTION_ACTIVATED,
    EventType.INVOICE_POSTED,
    EventType.PAYMENT_SETTLED,
    EventType.PAYMENT_APPLIED,
]


def event(deal: str, n: int) -> BusinessEvent:
    """The deal's n-th event (n counts from 0; past the sequence, a numbered reminder)."""
    event_type = SEQUENCE[n] if n < len(SEQUENCE) else EventType.PAYMENT_REMINDER
    return BusinessEvent(
        id=f"c2c:salesforce:{deal}:{event_type.value}" + (f":r{n}" if n >= len(SEQUENCE) else ""),
        source="c2c/tests",
        type=event_type,
        time=WHEN,
        subject=deal,
        correlationid=f"c2c:salesforce:{deal}",
        businesskey=deal,
        data={"n": n},
    )


def write(engine: Engine, events: list[BusinessEvent]) -> None:
    """Each in its own transaction, as the record_event activity writes them."""
    for item in events:
        with session_scope(engine) as session:
            OutboxRepository(session).add(item)


def interleaved(deals: list[str], per_deal: int, start: int = 0) -> list[BusinessEvent]:
    """Events of several deals as concurrent sagas write them: round-robin over the deals."""
    return [event(deal, n) for n in range(start, start + per_deal) for deal in deals]
