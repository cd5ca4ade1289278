"""A revenue-operations listener: counts settled payments per currency from the c2c event stream.

It is what a downstream team would write against docs/events.md, and uses nothing of c2c's but the broker
adapter: a durable JetStream consumer (`revenue-ops`) on `c2c.events.payment.settled.*`, explicit acks, and its
own dedupe by event id (CloudEvents `id`), so a redelivery, a replay beyond JetStream's duplicate window or a
restart between handling and ack never counts a payment twice. Its state (totals and the ids counted) is one JSON
file, written before each ack.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from nats.errors import TimeoutError as NatsTimeout
from nats.js import api

from broker import EventBroker, from_message, type_filter
from canonical import EventType

DURABLE = "revenue-ops"


@dataclass
class Totals:
    """Settled payments per currency, in minor units, and the event ids already counted."""

    amounts: dict[str, int] = field(default_factory=dict)
    payments: dict[str, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def count(self, event_id: str, currency: str, amount: int) -> bool:
        if event_id in self.seen:
            return False
        self.seen.add(event_id)
        self.amounts[currency] = self.amounts.get(currency, 0) + amount
        self.payments[currency] = self.payments.get(currency, 0) + 1
        return True

    @classmethod
    def load(cls, path: Path) -> Totals:
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(amounts=data["amounts"], payments=data["payments"], seen=set(data["seen"]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"amounts": self.amounts, "payments": self.payments, "seen": sorted(self.seen)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True))
        os.replace(tmp, path)  # atomic: a crash leaves the old state or the new, never half of one


async def listen(broker: EventBroker, state: Path, stop: asyncio.Event, batch: int = 50) -> Totals:
    """Count payments until `stop` is set; returns the totals (also in `state`)."""
    totals = Totals.load(state)
    sub = await broker.js.pull_subscribe(
        type_filter(EventType.PAYMENT_SETTLED),
        durable=DURABLE,
        stream=broker.spec.name,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT, deliver_policy=api.DeliverPolicy.ALL),
    )
    while not stop.is_set():
        try:
            messages = await sub.fetch(batch, timeout=1.0)
        except (NatsTimeout, TimeoutError):  # nothing new; on a loaded machine the request itself can time out
            continue
        for msg in messages:
            event = from_message(msg.headers, msg.data)
            amount = event.data["amount"]
            totals.count(event.id, amount["currency"], int(amount["amount"]))
        totals.save(state)
        for msg in messages:
            await msg.ack()
    return totals
