"""`starter.py events …` against a real NATS JetStream and a real store: tail one deal, replay it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker import EventBroker, StreamSpec
from cli import events as events_cli
from cli.finance import cli
from estate.nats import NatsServer
from runtime.publisher import OutboxPublisher
from settings import get_settings
from store import create_schema, make_engine
from tests.support.outbox import interleaved, write

runner = CliRunner()


@pytest.fixture
def published(tmp_path: Path, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Two deals' events in the outbox, published; the CLI's settings point at this store and server."""
    url = f"sqlite:///{tmp_path / 'c2c.db'}"
    engine = make_engine(url)
    create_schema(engine)
    events = interleaved(["D-1", "D-2"], per_deal=4)
    write(engine, events)

    async def publish() -> None:
        publisher = OutboxPublisher(engine, lambda: EventBroker.connect(nats_server.url, StreamSpec()))
        while await publisher.publish_once():
            pass
        await publisher.close()

    asyncio.run(publish())
    monkeypatch.setenv("C2C_DATABASE_URL", url)
    monkeypatch.setenv("C2C_NATS_URL", nats_server.url)
    # rich reads COLUMNS once, when the module's console is made (by whichever test imported it first): widen it
    # here so ids are never wrapped across lines of the table, whatever ran before.
    monkeypatch.setattr(events_cli.console, "width", 400)
    get_settings.cache_clear()
    yield [e.id for e in events if e.businesskey == "D-1"]
    get_settings.cache_clear()
    engine.dispose()


def test_tail_shows_one_deals_events_in_order(published: list[str]) -> None:
    result = runner.invoke(cli, ["events", "tail", "--deal", "D-1"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    shown = re.findall(r"c2c:salesforce:D-\d:[a-z_.:0-9]+", result.output)
    assert shown == published


def test_replay_republishes_a_deal_and_jetstream_drops_the_copies(published: list[str]) -> None:
    result = runner.invoke(cli, ["events", "replay", "--deal", "D-1"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"{len(published)} event(s): 0 published again, {len(published)} dropped" in result.output
    status = runner.invoke(cli, ["events", "status"])
    assert "outbox: 0 event(s) waiting" in status.output
    assert "last sequence 8" in status.output, "the replay added nothing to the stream"


def test_replay_needs_to_be_told_which_events(published: list[str]) -> None:
    result = runner.invoke(cli, ["events", "replay"], env={"COLUMNS": "400"})
    assert result.exit_code != 0
    assert "--deal D, or --since T" in result.output
