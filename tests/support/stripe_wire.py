"""Raw calls to the Stripe emulator on its wire format, and a webhook endpoint recording what it delivers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

AUTH = {"Authorization": "Bearer sk_test_sandbox"}
SECRET = "whsec_hooks"  # what emulators delivering to an EventSink sign with
# What Stripe emits when a payment settles an invoice (a card at once, a bank debit when it settles).
CARD_PAID = ["charge.succeeded", "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded"]


async def post(
    http: httpx.AsyncClient, url: str, path: str, data: Any = None, key: str | None = None, **headers: str
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return await http.post(f"{url}{path}", data=data or {}, headers={**AUTH, **extra, **headers})


async def get(http: httpx.AsyncClient, url: str, path: str, **kwargs: Any) -> httpx.Response:
    return await http.get(f"{url}{path}", headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)


async def state(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    result: dict[str, Any] = (await http.get(f"{url}/_sandbox/state")).json()
    return result


async def open_invoice(
    http: httpx.AsyncClient, url: str, amount: int, currency: str = "usd", payment_method: str | None = None
) -> dict[str, Any]:
    """A customer with one finalized invoice of `amount`."""
    card = {"invoice_settings[default_payment_method]": payment_method} if payment_method else {}
    customer = (await post(http, url, "/v1/customers", {"name": "Acme", **card})).json()
    invoice = (await post(http, url, "/v1/invoices", {"customer": customer["id"], "currency": currency})).json()
    item = {"customer": customer["id"], "invoice": invoice["id"], "currency": currency, "amount": str(amount)}
    assert (await post(http, url, "/v1/invoiceitems", item)).status_code == 200
    finalized = await post(http, url, f"/v1/invoices/{invoice['id']}/finalize")
    assert finalized.status_code == 200, finalized.text
    result: dict[str, Any] = finalized.json()
    return result


async def intent_of(http: httpx.AsyncClient, url: str, intent_id: str) -> dict[str, Any]:
    expand = {"expand[]": "charges.data.balance_transaction"}
    response = await get(http, url, f"/v1/payment_intents/{intent_id}", params=expand)
    result: dict[str, Any] = response.json()
    return result


class EventSink:
    """A webhook endpoint recording every signed payload (after failing the first `fail_first` attempts)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.changed = threading.Condition()
        self.app = FastAPI()

        @self.app.post("/hooks")
        async def hook(request: Request) -> Response:
            payload = await request.body()
            with self.changed:
                self.attempts += 1
                if self.attempts <= self.fail_first:
                    return Response(status_code=500)
                self.received.append((payload, request.headers.get("Stripe-Signature")))
                self.changed.notify_all()
            return Response(status_code=200)

    def events(self) -> list[dict[str, Any]]:
        with self.changed:
            return [json.loads(payload) for payload, _ in self.received]

    def types(self) -> list[str]:
        return [event["type"] for event in self.events()]

    def clear(self) -> None:
        with self.changed:
            self.received.clear()

    async def wait_for(self, *types: str) -> list[tuple[bytes, str | None]]:
        """Every payload so far, once each of `types` arrived (5 s at most)."""
        return await self.wait_until(lambda: set(types) <= set(self.types()), f"{types} not all delivered")

    async def wait_count(self, count: int) -> list[tuple[bytes, str | None]]:
        return await self.wait_until(lambda: len(self.received) >= count, f"fewer than {count} deliveries")

    async def wait_until(self, done: Callable[[], bool], problem: str) -> list[tuple[bytes, str | None]]:
        def wait() -> bool:
            with self.changed:
                return self.changed.wait_for(done, timeout=5)

        assert await asyncio.to_thread(wait), f"{problem}; got {self.types()}"
        with self.changed:
            return list(self.received)
