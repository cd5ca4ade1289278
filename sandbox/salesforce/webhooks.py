"""Outbound closed-won notifications, as a Flow HTTP callout signed with a shared secret would send them.

Delivery is at-least-once: a background task retries non-2xx answers and connection errors with a short
exponential backoff; every retry carries the same event id and a fresh signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

ATTEMPTS = 5
FIRST_BACKOFF = 0.05
SIGNATURE_HEADER = "X-C2C-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookSender:
    """Posts `opportunity.closed_won` events to `url` and records each delivery for /_sandbox/state."""

    def __init__(self, url: str | None, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def closed_won(self, record_id: str) -> None:
        """Queue the event for an opportunity that just became Closed Won (no-op without a URL)."""
        if not self.url:
            return
        event = {
            "eventId": str(uuid.uuid4()),
            "eventType": "opportunity.closed_won",
            "sobject": "Opportunity",
            "recordId": record_id,
            "stageName": "Closed Won",
            "occurredAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        delivery: dict[str, Any] = {
            "eventId": event["eventId"],
            "recordId": record_id,
            "url": self.url,
            "attempts": 0,
            "statusCode": None,
            "error": None,
            "delivered": False,
        }
        self.deliveries.append(delivery)
        body = json.dumps(event, separators=(",", ":")).encode()
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, body, self.url, self.secret))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: dict[str, Any], body: bytes, url: str, secret: str) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
            for attempt in range(1, ATTEMPTS + 1):
                delivery["attempts"] = attempt
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, int(time.time()), body)}
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    delivery["statusCode"], delivery["error"] = None, f"{type(exc).__name__}: {exc}"
                else:
                    delivery["statusCode"], delivery["error"] = response.status_code, None
                    if response.is_success:
                        delivery["delivered"] = True
                        return
                if attempt < ATTEMPTS:
                    await asyncio.sleep(FIRST_BACKOFF * 2 ** (attempt - 1))

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.deliveries.clear()
