"""Outbound CRM notifications, as Flow HTTP callouts signed with a shared secret would send them.

Two record-triggered flows post to the same URL: `opportunity.closed_won` when an opportunity becomes Closed
Won, and `account.changed` when a watched field of an existing account changes (not on create).
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

from sandbox import outgoing

# Retries of a refused delivery: doubling from FIRST_BACKOFF up to MAX_BACKOFF apart, about 80 s in all (the vendor
# retries for a day; compressed). Five retries within a second lost a closed deal whenever the receiver was busy for a
# second (seen in `make demo` on a loaded machine: its saga never started).
ATTEMPTS = 12
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 30.0
SIGNATURE_HEADER = "X-C2C-Signature"
# The account fields the account.changed flow watches: what billing and the ERP keep of a customer.
WATCHED_ACCOUNT_FIELDS = (
    "Name",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "Tax_Id__c",
)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookSender:
    """Posts CRM events to `url` and records each delivery for /_sandbox/state."""

    def __init__(self, url: str | None, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def closed_won(self, record_id: str) -> None:
        """Queue the event for an opportunity that just became Closed Won (no-op without a URL)."""
        fields = {"sobject": "Opportunity", "recordId": record_id, "stageName": "Closed Won"}
        self._queue("opportunity.closed_won", fields)

    def account_changed(self, record_id: str, changed_fields: list[str], system_modstamp: str) -> None:
        """Queue the event for an account whose watched fields changed (no-op without a URL)."""
        fields = {
            "sobject": "Account",
            "recordId": record_id,
            "changedFields": list(changed_fields),
            "systemModstamp": system_modstamp,
        }
        self._queue("account.changed", fields)

    def _queue(self, event_type: str, fields: dict[str, Any]) -> None:
        if not self.url:
            return
        occurred_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event = {"eventId": str(uuid.uuid4()), "eventType": event_type, **fields, "occurredAt": occurred_at}
        delivery: dict[str, Any] = {
            "eventId": event["eventId"],
            "eventType": event["eventType"],
            "recordId": event["recordId"],
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
        async with outgoing.client(timeout=5.0) as client:
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
                    await asyncio.sleep(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1)))

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.deliveries.clear()
