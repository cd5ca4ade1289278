"""Webhooks v3 as a HubSpot app's subscriptions send them: `deal.propertyChange` of `dealstage`, and
`company.propertyChange` of the properties billing and the ERP keep of a customer (WATCHED_COMPANY_PROPERTIES).

A request's body is a JSON array of events; `X-HubSpot-Signature-v3` is base64(HMAC-SHA256(client secret,
method + URI + body + timestamp)) and `X-HubSpot-Request-Timestamp` the timestamp in milliseconds. Delivery is
at-least-once: a background task retries non-2xx answers and connection errors with a short backoff; a retry
carries the same eventId, a higher attemptNumber and a fresh timestamp and signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import httpx

from sandbox import outgoing

# Retries of a refused delivery: doubling from FIRST_BACKOFF up to MAX_BACKOFF apart, about 80 s in all (the vendor
# retries for a day; compressed). Five retries within a second lost a closed deal whenever the receiver was busy for a
# second (seen in `make demo` on a loaded machine: its saga never started).
ATTEMPTS = 12
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 30.0
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
PORTAL_ID = 24_681_357
APP_ID = 3_141_592
SUBSCRIPTION_ID = 2_718_281
WATCHED_COMPANY_PROPERTIES = ("name", "address", "address2", "city", "state", "zip", "country", "c2c_tax_id")


def sign(secret: str, method: str, uri: str, body: bytes, timestamp: int) -> str:
    """HubSpot's v3 signature of one request."""
    message = method.encode() + uri.encode() + body + str(timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class WebhookSender:
    """Posts deal stage changes to `url` and records each delivery for /_sandbox/state."""

    def __init__(self, url: str | None, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._event_ids = itertools.count(int(time.time() * 1000) % 10**12)

    def property_changed(self, kind: str, object_id: str, name: str, value: str | None) -> None:
        """Queue the `{deal|company}.propertyChange` event of one property's new value (no-op without a URL)."""
        if not self.url:
            return
        event = {
            "eventId": next(self._event_ids),
            "subscriptionId": SUBSCRIPTION_ID,
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": f"{kind}.propertyChange",
            "attemptNumber": 0,
            "objectId": int(object_id),
            "propertyName": name,
            "propertyValue": value if value is not None else "",
            "changeSource": "CRM_UI",
            "sourceId": "userId:1",
        }
        delivery: dict[str, Any] = {
            "eventId": event["eventId"],
            "portalId": PORTAL_ID,
            "subscriptionType": event["subscriptionType"],
            "objectId": object_id,
            "propertyName": name,
            "propertyValue": value,
            "url": self.url,
            "attempts": 0,
            "statusCode": None,
            "error": None,
            "delivered": False,
        }
        self.deliveries.append(delivery)
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, event, self.url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: dict[str, Any], event: dict[str, Any], url: str) -> None:
        async with outgoing.client(timeout=5.0) as client:
            for attempt in range(ATTEMPTS):
                delivery["attempts"] = attempt + 1
                body = json.dumps([{**event, "attemptNumber": attempt}], separators=(",", ":")).encode()
                timestamp = int(time.time() * 1000)
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(self.secret, "POST", url, body, timestamp),
                    TIMESTAMP_HEADER: str(timestamp),
                }
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    delivery["statusCode"], delivery["error"] = None, f"{type(exc).__name__}: {exc}"
                else:
                    delivery["statusCode"], delivery["error"] = response.status_code, None
                    if response.is_success:
                        delivery["delivered"] = True
                        return
                if attempt + 1 < ATTEMPTS:
                    await asyncio.sleep(min(MAX_BACKOFF, FIRST_BACKOFF * 2**attempt))

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.deliveries.clear()
