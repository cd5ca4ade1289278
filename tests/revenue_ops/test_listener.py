"""The revenue-ops listener against a real NATS JetStream: totals per currency, each payment counted once even
when the stream carries it again (a replay beyond the duplicate window) and across a restart of the listener."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from broker import EventBroker, StreamSpec
from canonical import BusinessEvent, EventType
from estate.nats import NatsServer
from revenue_ops.listener import Totals, listen
from tests.support.polling import eventually

# No duplicate window to speak of: a second publish of an id reaches consumers, who must dedupe themselves.
SPEC = StreamSpec(duplicate_window_seconds=1, max_age_days=1)


def settled(deal: str, amount: int, currency: str) -> BusinessEvent:
    return BusinessEvent.for_step(
        workflow_id=f"c2c:salesforce:{deal}",
        event_type=EventType.PAYMENT_SETTLED,
        business_key=deal,
        time=datetime(2025, 3, 1, tzinfo=UTC),
        data={"payment": f"pi_{deal}", "amount": {"amount": amount, "currency": currency}, "source_system": "stripe"},
    )


async def run_until(broker: EventBroker, state: Path, payments: int) -> Totals:
    stop = asyncio.Event()
    task = asyncio.create_task(listen(broker, state, stop))

    async def counted() -> bool:
        return state.is_file() and sum(Totals.load(state).payments.values()) >= payments

    try:
        await eventually(counted, timeout=30)
    finally:
        stop.set()
        await task
    return Totals.load(state)


async def test_payments_are_counted_per_currency_once(nats_server: NatsServer, tmp_path: Path) -> None:
    broker = await EventBroker.connect(nats_server.url, SPEC)
    state = tmp_path / "revenue-ops.json"
    try:
        await broker.ensure_stream()
        events = [settled("D-1", 4900, "USD"), settled("D-2", 100, "USD"), settled("D-3", 5000, "JPY")]
        for event in events:
            await broker.publish(event)
        totals = await run_until(broker, state, 3)
        assert totals.amounts == {"USD": 5000, "JPY": 5000}
        # a replay beyond the duplicate window: the stream carries D-1's payment again, plus a new one
        await asyncio.sleep(1.1)  # let the one-second window pass (setup, not what the test measures)
        assert not (await broker.publish(events[0])).duplicate
        await broker.publish(settled("D-4", 700, "EUR"))
        totals = await run_until(broker, state, 4)  # a restarted listener, from its saved state
    finally:
        await broker.close()
    assert totals.amounts == {"USD": 5000, "JPY": 5000, "EUR": 700}
    assert totals.payments == {"USD": 2, "JPY": 1, "EUR": 1}
