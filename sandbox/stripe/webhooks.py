"""Webhook delivery: each event POSTed as JSON with a `Stripe-Signature` header, retried on failure."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from sandbox.stripe.state import StripeState

RETRY_DELAYS = (0.1, 0.5, 2.0)  # seconds before the 2nd, 3rd and 4th attempts


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`, Stripe's scheme."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


async def deliver(state: StripeState, url: str, secret: str, event: dict[str, Any]) -> None:
    """POST one event until the endpoint answers 2xx or the attempts run out; every attempt is logged."""
    event["pending_webhooks"] = 1
    payload = json.dumps(event, separators=(",", ":")).encode()
    async with httpx.AsyncClient(timeout=5.0) as client:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
            if delay:
                await asyncio.sleep(delay)
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(payload, secret, int(time.time())),
                "User-Agent": "Stripe/1.0 (+c2c sandbox)",
            }
            try:
                response = await client.post(url, content=payload, headers=headers)
                status: int | None = response.status_code
            except httpx.HTTPError:
                status = None
            state.deliveries.append({"event": event["id"], "attempt": attempt, "status": status})
            if status is not None and 200 <= status < 300:
                event["pending_webhooks"] = 0
                return
