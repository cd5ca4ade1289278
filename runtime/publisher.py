"""The outbox publisher: moves business events from the outbox to NATS JetStream, in the order they were written.

Every worker process runs one (when `C2C_NATS_URL` is set); a lease in the store (`store/leases.py`) lets one of
them publish at a time, so the stream gets the outbox in one order and a deal's events arrive in the order they
happened. A round: take or renew the lease, read the oldest unpublished events, publish them one by one (each
acknowledged by JetStream before the next), then mark those published. The marks come after the acks, so a
crash between the two re-publishes on the next round: JetStream drops the second copy because `Nats-Msg-Id` is
the event id (inside the duplicate window; consumers dedupe by event id beyond it). Nothing is lost: an event
leaves `pending` only once the broker acknowledged it. The broker down: the round stops at the first failed
event (the ones after it wait, so order holds), the outbox grows, `c2c_outbox_lag_seconds` says by how long,
and the next rounds retry with a back-off until NATS answers again. Deals never wait for any of this.

Why not a Temporal activity on a schedule: the publisher is a loop that must run one at a time and keep order
across restarts; a lease in the same database as the outbox says exactly that, and needs no workflow history per
batch. A publisher stops publishing before its lease could expire (lease minus one publish timeout), so a
successor never overlaps it unless clocks disagree by more than that margin, and even then JetStream's dedupe
keeps consumers from seeing an event twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.runtime import Runtime

from broker import BrokerUnavailable, EventBroker, StreamSpec
from canonical import BusinessEvent
from observability.metrics import OutboxMetrics
from settings import Settings
from store import LeaseRepository, OutboxLag, OutboxRepository, session_scope

LEASE = "outbox-publisher"
log = logging.getLogger("c2c.events")


def publisher_for(settings: Settings, engine: Engine, runtime: Runtime | None = None) -> OutboxPublisher | None:
    """The worker's publisher, when a broker is configured (`C2C_NATS_URL`); its metrics on the worker's runtime."""
    if not settings.nats_url:
        return None
    url, spec = settings.nats_url, StreamSpec.from_settings(settings)
    return OutboxPublisher(
        engine,
        lambda: EventBroker.connect(url, spec, name=f"c2c-publisher-{socket.gethostname()}"),
        lease_seconds=settings.outbox_lease_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        metrics=OutboxMetrics(runtime.metric_meter if runtime is not None else None),
    )


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class OutboxPublisher:
    def __init__(
        self,
        engine: Engine,
        connect: Callable[[], Awaitable[EventBroker]],
        *,
        holder: str | None = None,
        lease_seconds: float = 15.0,
        batch: int = 100,
        poll_seconds: float = 1.0,
        metrics: OutboxMetrics | None = None,
    ) -> None:
        self.engine, self.connect = engine, connect
        self.holder = holder or holder_name()
        self.lease_seconds, self.batch, self.poll_seconds = lease_seconds, batch, poll_seconds
        self.metrics = metrics or OutboxMetrics()
        self.broker: EventBroker | None = None
        self.stream_ready = False
        self.published = 0  # what this publisher put on the stream (acks that were not duplicates)
        self.duplicates = 0  # acks JetStream gave as duplicates: a re-publish after a crash, or a replay

    async def publish_once(self) -> int:
        """One round; how many events were published (0: the outbox was empty or another publisher leads).
        BrokerUnavailable when NATS did not take an event (those before it are published and marked)."""
        started = time.monotonic()
        if not await asyncio.to_thread(self._take_lease):
            return 0
        events = await asyncio.to_thread(self._pending)
        if not events:
            return 0
        broker = await self._broker()
        # Stop before the lease could lapse mid-publish: one more publish may take the broker's whole timeout.
        deadline = started + self.lease_seconds - broker.timeout - 1.0
        done: list[str] = []
        try:
            for event in events:
                if time.monotonic() >= deadline:
                    break
                outcome = await self._publish(broker, event)
                done.append(event.id)
                self.metrics.published(outcome)
                self.duplicates += outcome
                self.published += not outcome
        finally:  # also on a broker failure or a shutdown: what JetStream acknowledged is published
            if done:
                await self.mark(done)
        return len(done)

    async def _publish(self, broker: EventBroker, event: BusinessEvent) -> bool:
        try:
            return (await broker.publish(event)).duplicate
        except BrokerUnavailable:
            self.stream_ready = False  # a server that lost its store needs the stream again
            raise

    async def mark(self, ids: list[str]) -> None:
        def work() -> None:
            with session_scope(self.engine) as session:
                OutboxRepository(session).mark_published(ids)

        await asyncio.to_thread(work)

    async def _broker(self) -> EventBroker:
        if self.broker is None:
            self.broker = await self.connect()
        if not self.stream_ready:
            await self.broker.ensure_stream()
            self.stream_ready = True
        return self.broker

    def _take_lease(self) -> bool:
        with session_scope(self.engine) as session:
            taken = LeaseRepository(session).take(LEASE, self.holder, timedelta(seconds=self.lease_seconds))
        return taken is not None

    def _pending(self) -> list[BusinessEvent]:
        with session_scope(self.engine) as session:
            return OutboxRepository(session).pending(self.batch)

    def lag(self) -> OutboxLag:
        with session_scope(self.engine) as session:
            return OutboxRepository(session).lag()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: at once while a round fills its batch, else every `poll_seconds`; with a
        growing back-off (to 10 s) while NATS is unreachable."""
        backoff = 0.0
        try:
            while not stop.is_set():
                count = 0
                try:
                    count = await self.publish_once()
                    if backoff:
                        log.info("NATS answers again: publishing the outbox")
                    backoff = 0.0
                except BrokerUnavailable as error:
                    if not backoff:
                        log.warning("NATS unavailable, the outbox waits: %s", error)
                    backoff = min(max(backoff * 2, 0.5), 10.0)
                lag = await asyncio.to_thread(self.lag)
                self.metrics.lag(lag.pending, lag.seconds())
                if count < self.batch or backoff:
                    try:
                        await asyncio.wait_for(stop.wait(), backoff or self.poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            await self.close()

    async def close(self) -> None:
        def release() -> None:
            with session_scope(self.engine) as session:
                LeaseRepository(session).release(LEASE, self.holder)

        await asyncio.to_thread(release)
        if self.broker is not None:
            await self.broker.close()
            self.broker = None
