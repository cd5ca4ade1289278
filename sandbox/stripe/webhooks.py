"""Webhook delivery: each event POSTed as JSON with a `Stripe-Signature` header, retried on failure.

Stripe promises at-least-once delivery in no particular order, so receivers must cope with events that
arrive late, twice or out of order. `Dispatcher` can produce each of those on purpose (`DeliveryConfig`):

- `duplicates`: every event is delivered 1 + n times (the copies are the same event, same id).
- `delay_seconds`: every delivery is held that long after the request that emitted it.
- `reorder`: deliveries are collected for `reorder_window` seconds from the first one held (after its
  delay), shuffled, then sent one after another in the shuffled order (each first attempt waits for the
  previous answer, so the receiver sees exactly that order); `seed` makes the shuffles reproducible (the
  random generator is seeded when the config is set, so the same events in the same batches get the same
  order). Without `reorder` deliveries go out concurrently, as at Stripe.
- `secrets`: the payload is signed with each secret (`t=…,v1=…,v1=…`), as Stripe does for the overlap
  period after an endpoint secret is rolled.

Failed attempts (no answer or non-2xx) are retried after `RETRY_DELAYS` in the background. Every attempt is
logged in `StripeState.deliveries`: event id and type, `copy` (0 the original, 1… the duplicates), attempt
number, HTTP status (None: no answer) and the unix time it was answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, Field

from sandbox import outgoing
from sandbox.stripe.state import StripeState

# Seconds before each retry: the vendor's backoff over days (Stripe: up to 3 days), compressed so that an event the
# receiver refused while busy or restarting still arrives minutes later; three quick retries lost such events for good.
RETRY_DELAYS: tuple[float, ...] = (0.1, 0.5, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0)
DEFAULT_SECRET = "whsec_stripe_sandbox"


def signature_header(payload: bytes, secret: str | list[str], timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`, Stripe's scheme; one `v1` per secret."""
    signed = f"{timestamp}.".encode() + payload
    secrets = [secret] if isinstance(secret, str) else secret
    digests = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={d}" for d in digests)])


class DeliveryConfig(BaseModel):
    """Where events go and how they travel; the body of `POST /_sandbox/webhook`.

    `url` None stops delivery. `secret` (one) or `secrets` (several, all signing) replace the signing
    secrets; with neither, the current ones are kept. The other fields return to their defaults unless given."""

    url: str | None = None
    secret: str | None = None
    secrets: list[str] | None = Field(default=None, min_length=1)
    duplicates: int = Field(default=0, ge=0, le=10)
    delay_seconds: float = Field(default=0.0, ge=0, le=3600)
    reorder: bool = False
    reorder_window: float = Field(default=0.2, gt=0, le=60)
    seed: int | None = None


@dataclass
class Delivery:
    """One copy of one event on its way to `url`, signed with `secrets` (both fixed when it was emitted)."""

    event: dict[str, Any]
    copy: int
    url: str
    secrets: list[str]


@dataclass
class Dispatcher:
    """Delivers the events of one emulator, as its `DeliveryConfig` says."""

    state: StripeState
    url: str | None = None
    secrets: list[str] = field(default_factory=lambda: [DEFAULT_SECRET])
    config: DeliveryConfig = field(default_factory=DeliveryConfig)
    _rng: random.Random = field(default_factory=random.Random)
    _batch: list[Delivery] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None
    _sending: list[Delivery] = field(default_factory=list)  # the shuffled batch going out now
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def configure(self, config: DeliveryConfig) -> None:
        self.url = config.url
        if config.secrets is not None:
            self.secrets = list(config.secrets)
        elif config.secret is not None:
            self.secrets = [config.secret]
        self.config = config
        self._rng = random.Random(config.seed)

    def describe(self) -> dict[str, Any]:
        """The effective configuration (secrets counted, never shown) and how many deliveries wait."""
        shown = self.config.model_dump(exclude={"url", "secret", "secrets"})
        return {"url": self.url, "secrets": len(self.secrets), **shown, "pending": self.pending()}

    def pending(self) -> int:
        """Deliveries held, batched or being retried."""
        others = sum(1 for task in self._tasks if task is not self._flusher)
        return len(self._batch) + len(self._sending) + others

    def submit(self, events: list[dict[str, Any]]) -> None:
        """Queue the events of one request (or one settlement) for delivery."""
        if self.url is None or not events:
            return
        copies = range(1 + self.config.duplicates)
        deliveries = [Delivery(event, n, self.url, list(self.secrets)) for event in events for n in copies]
        for delivery in deliveries:
            delivery.event["pending_webhooks"] += 1
        if not self.config.reorder:
            for delivery in deliveries:
                self._spawn(self._deliver(delivery, hold=self.config.delay_seconds))
            return
        self._batch.extend(deliveries)
        if self._flusher is None:
            self._flusher = self._spawn(self._flush_batches())

    def reset(self) -> None:
        """Drop every delivery not yet made (the emulator's state was reset)."""
        self._batch.clear()
        self._sending.clear()
        for task in list(self._tasks):
            task.cancel()
        self._flusher = None  # the next batch gets a flusher of its own, whenever the old one winds down

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_batches(self) -> None:
        try:
            while self._batch:
                await asyncio.sleep(self.config.delay_seconds + self.config.reorder_window)
                self._sending, self._batch = self._batch, []
                self._rng.shuffle(self._sending)
                while self._sending:
                    delivery = self._sending[0]
                    delivered = await self._attempt(delivery, 1)
                    self._sending.pop(0)
                    if not delivered:
                        self._spawn(self._retry(delivery))
        finally:
            if self._flusher is asyncio.current_task():
                self._flusher = None

    async def _deliver(self, delivery: Delivery, *, hold: float) -> None:
        if hold:
            await asyncio.sleep(hold)
        if not await self._attempt(delivery, 1):
            await self._retry(delivery)

    async def _retry(self, delivery: Delivery) -> None:
        for attempt, delay in enumerate(RETRY_DELAYS, start=2):
            await asyncio.sleep(delay)
            if await self._attempt(delivery, attempt):
                return

    async def _attempt(self, delivery: Delivery, attempt: int) -> bool:
        """POST the event once; True when the endpoint answered 2xx. The attempt is logged either way."""
        event = delivery.event
        payload = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, delivery.secrets, int(time.time())),
            "User-Agent": "Stripe/1.0 (+c2c sandbox)",
        }
        try:
            async with outgoing.client(timeout=5.0) as client:
                response = await client.post(delivery.url, content=payload, headers=headers)
            status: int | None = response.status_code
        except httpx.HTTPError:
            status = None
        self.state.deliveries.append(
            {
                "event": event["id"],
                "type": event["type"],
                "copy": delivery.copy,
                "attempt": attempt,
                "status": status,
                "at": time.time(),
            }
        )
        delivered = status is not None and 200 <= status < 300
        if delivered:
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        return delivered
