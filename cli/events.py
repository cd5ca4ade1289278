"""`python starter.py events status|tail|replay …`: the business events on NATS JetStream (docs/events.md).

`events status`                      the outbox's lag (events not yet on the broker) and the stream's last sequence
`events tail --deal D [--follow]`    a deal's events as the stream holds them, in order (then new ones, with --follow)
`events replay --deal D`             re-publish a deal's published events from the outbox (consumers dedupe by id)
`events replay --since T [--until T]` the same for every event written in [since, until)
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from broker import ALL_EVENTS, BrokerUnavailable, EventBroker, StreamedEvent, StreamSpec, deal_filter
from canonical import BusinessEvent
from settings import Settings, get_settings
from store import OutboxRepository, make_engine, session_scope

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


def _settings() -> Settings:
    settings = get_settings()
    if not settings.nats_url:
        console.print("[red]C2C_NATS_URL is not set: no broker to read or publish to[/red]")
        raise typer.Exit(2)
    return settings


async def _broker(settings: Settings) -> EventBroker:
    assert settings.nats_url is not None
    try:
        return await EventBroker.connect(settings.nats_url, StreamSpec.from_settings(settings), name="c2c-events-cli")
    except BrokerUnavailable as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise typer.BadParameter(f"{value.isoformat()} has no UTC offset (e.g. 2025-03-01T00:00:00+00:00)")
    return value


def describe(event: BusinessEvent) -> str:
    """The payload's telling fields in one line."""
    data = event.data
    amount = data.get("amount") or data.get("total")
    parts = [f"{k}={data[k]}" for k in ("invoice", "payment", "subscription_id", "period", "reason") if data.get(k)]
    if isinstance(amount, dict):
        parts.append(f"{amount.get('amount')} {amount.get('currency')}")
    if data.get("source_time"):
        parts.append(f"{data.get('source_system')} at {data['source_time']}")
    return " ".join(parts)


def row(table: Table, item: StreamedEvent) -> None:
    event = item.event
    table.add_row(str(item.seq), event.time.isoformat(timespec="seconds"), event.type.value, event.id, describe(event))


def events_table(title: str) -> Table:
    table = Table(title=title)
    for column in ("seq", "c2c time", "type", "id", "what"):
        table.add_column(column, overflow="fold")
    return table


@cli.command()
def status() -> None:
    """The outbox's lag and the stream's state."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        lag = OutboxRepository(session).lag()
    oldest = lag.oldest.isoformat(timespec="seconds") if lag.oldest else "-"
    console.print(f"outbox: {lag.pending} event(s) waiting, oldest {oldest} ({lag.seconds():.0f} s)")
    if settings.nats_url:

        async def stream() -> None:
            broker = await _broker(settings)
            try:
                console.print(f"stream {broker.spec.name}: last sequence {await broker.last_seq()}")
            finally:
                await broker.close()

        asyncio.run(stream())


@cli.command()
def tail(
    deal: str | None = typer.Option(None, "--deal", help="one deal's events (its business key); all when omitted"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new events until Ctrl-C"),
) -> None:
    """The stream's events for a deal, oldest first."""
    settings = _settings()
    subjects = deal_filter(deal) if deal else ALL_EVENTS

    async def run() -> None:
        broker = await _broker(settings)
        try:
            if follow:
                async for item in broker.follow(subjects):
                    event = item.event
                    console.print(f"{item.seq:>6} {event.time:%Y-%m-%d %H:%M:%S} [bold]{event.type.value}[/bold] "
                                  f"{event.id} {describe(event)}")  # fmt: skip
                return
            table = events_table(f"{subjects} on {broker.spec.name}")
            async for item in broker.read(subjects):
                row(table, item)
            console.print(table)
        finally:
            await broker.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@cli.command()
def replay(
    deal: str | None = typer.Option(None, "--deal", help="re-publish this deal's events"),
    since: datetime | None = typer.Option(None, help="re-publish events written at or after (ISO 8601, with offset)"),
    until: datetime | None = typer.Option(None, help="… and before this"),
) -> None:
    """Re-publish events that were published, in their order. Inside the stream's duplicate window JetStream
    drops them as duplicates (nothing was lost); beyond it consumers see them again and dedupe by event id."""
    if deal is None and since is None:
        raise typer.BadParameter("say which events: --deal D, or --since T [--until T]")
    settings = _settings()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        events = OutboxRepository(session).events(
            business_key=deal, since=_aware(since), until=_aware(until), published_only=True
        )
    if not events:
        console.print("no published events match")
        raise typer.Exit(1)

    async def run() -> tuple[int, int]:
        broker = await _broker(settings)
        table = Table(title=f"re-published to {broker.spec.name}")
        for column in ("seq", "type", "id", "outcome"):
            table.add_column(column, overflow="fold")
        fresh = 0
        try:
            await broker.ensure_stream()
            for event in events:
                published = await broker.publish(event)
                fresh += not published.duplicate
                outcome = "duplicate (dropped)" if published.duplicate else "published again"
                table.add_row(str(published.seq), event.type.value, event.id, outcome)
        except BrokerUnavailable as error:
            console.print(table)
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from error
        finally:
            await broker.close()
        console.print(table)
        return fresh, len(events) - fresh

    fresh, duplicates = asyncio.run(run())
    console.print(f"{len(events)} event(s): {fresh} published again, {duplicates} dropped by JetStream as duplicates")


if __name__ == "__main__":
    cli()
