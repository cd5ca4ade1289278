"""The events stream on NATS JetStream: connect, keep the stream's configuration, publish, read back.

One stream (`C2C_EVENTS` by default) holds `c2c.events.>`: limits retention (events stay for `max_age` whoever
has read them, so a new consumer or a replay can start from the beginning), file storage, and a duplicate
window in which a second message with the same `Nats-Msg-Id` is acknowledged as a duplicate and not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import NotFoundError

from broker.cloudevents import from_message, to_message
from broker.subjects import ALL_EVENTS
from canonical import BusinessEvent
from settings import Settings


class BrokerUnavailable(Exception):
    """NATS did not take the message (down, no stream, no answer in time): it may or may not be stored."""


@dataclass(frozen=True)
class StreamSpec:
    name: str = "C2C_EVENTS"
    replicas: int = 1
    duplicate_window_seconds: int = 24 * 3600
    max_age_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamSpec:
        return cls(
            name=settings.nats_stream,
            replicas=settings.nats_replicas,
            duplicate_window_seconds=settings.nats_duplicate_window_seconds,
            max_age_days=settings.nats_max_age_days,
        )

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            description="c2c business events (CloudEvents, binary mode); docs/events.md",
            subjects=[ALL_EVENTS],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=float(self.duplicate_window_seconds),
            max_age=float(self.max_age_days * 86400),
            discard=api.DiscardPolicy.OLD,
        )


@dataclass(frozen=True)
class Published:
    seq: int
    duplicate: bool


@dataclass(frozen=True)
class StreamedEvent:
    seq: int
    subject: str
    event: BusinessEvent


class EventBroker:
    """One NATS connection and the events stream."""

    def __init__(self, nc: NATS, spec: StreamSpec, timeout: float) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=timeout)
        self.spec = spec
        self.timeout = timeout

    @classmethod
    async def connect(
        cls, servers: str | list[str], spec: StreamSpec | None = None, *, name: str = "c2c", timeout: float = 5.0
    ) -> EventBroker:
        """Connect (BrokerUnavailable when no server answers); once connected the client reconnects on its own,
        and publishes fail with BrokerUnavailable meanwhile."""
        urls = [url.strip() for url in servers.split(",")] if isinstance(servers, str) else servers
        try:
            nc = await nats.connect(
                servers=urls,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
        except (TimeoutError, NatsError, OSError) as error:
            raise BrokerUnavailable(f"NATS at {', '.join(urls)}: {error!r}") from error
        return cls(nc, spec or StreamSpec(), timeout)

    async def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one's configuration to ours."""
        try:
            try:
                await self.js.stream_info(self.spec.name)
            except NotFoundError:
                await self.js.add_stream(self.spec.config())
            else:
                await self.js.update_stream(self.spec.config())
        except (TimeoutError, NatsError) as error:
            raise BrokerUnavailable(f"stream {self.spec.name}: {error!r}") from error

    async def publish(self, event: BusinessEvent) -> Published:
        """Publish and wait for JetStream's ack; `duplicate` when the stream already had this event id."""
        subject, headers, payload = to_message(event)
        try:
            ack = await self.js.publish(subject, payload, timeout=self.timeout, stream=self.spec.name, headers=headers)
        except (TimeoutError, NatsError) as error:
            raise BrokerUnavailable(f"publish {event.id}: {error!r}") from error
        return Published(seq=ack.seq, duplicate=bool(ack.duplicate))

    async def read(self, subjects: str = ALL_EVENTS, after: int = 0) -> AsyncIterator[StreamedEvent]:
        """The stream's events on `subjects` after sequence `after`, as stored now, oldest first."""
        seq = after + 1
        while True:
            try:
                raw = await self.js.get_msg(self.spec.name, seq=seq, subject=subjects, next=True)
            except NotFoundError:
                return
            assert raw.seq is not None
            assert raw.subject is not None
            yield StreamedEvent(seq=raw.seq, subject=raw.subject, event=from_message(raw.headers, raw.data))
            seq = raw.seq + 1

    async def follow(self, subjects: str = ALL_EVENTS) -> AsyncIterator[StreamedEvent]:
        """Every event on `subjects` from the stream's start, then each new one as it comes (an ordered
        consumer: the client recreates it after a gap, so none is skipped or repeated)."""
        sub = await self.js.subscribe(
            subjects, stream=self.spec.name, ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL
        )
        try:
            async for msg in sub.messages:
                yield StreamedEvent(seq=msg.metadata.sequence.stream, subject=msg.subject, event=_event(msg))
        finally:
            await sub.unsubscribe()

    async def last_seq(self) -> int:
        info = await self.js.stream_info(self.spec.name)
        return info.state.last_seq

    async def close(self) -> None:
        if not self.nc.is_closed:
            await self.nc.close()


def _event(msg: Msg) -> BusinessEvent:
    return from_message(msg.headers, msg.data)
