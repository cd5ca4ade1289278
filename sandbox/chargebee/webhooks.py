"""Webhook delivery: each event POSTed as JSON with HTTP basic auth, as Chargebee's webhook settings configure.

Chargebee signs nothing: the endpoint's username and password (basic auth) are what a receiver checks, and the
event id what it deduplicates by (delivery is at least once). `duplicates` sends each event more than once on
purpose; a failed attempt (no answer, non-2xx) is retried after `RETRY_DELAYS`. Every attempt is logged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, Field

from sandbox import outgoing

# Seconds before each retry: the vendor's backoff over days (Stripe: up to 3 days), compressed so that an event the
# receiver refused while busy or restarting still arrives minutes later; three quick retries lost such events for good.
RETRY_DELAYS: tuple[float, ...] = (0.1, 0.5, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0)


class WebhookConfig(BaseModel):
    """The body of `POST /_sandbox/webhook`; `url` None stops delivery."""

    url: str | None = None
    username: str = "c2c"
    password: str = "cb_webhook_sandbox"
    duplicates: int = Field(default=0, ge=0, le=10)


@dataclass
class Dispatcher:
    config: WebhookConfig = field(default_factory=WebhookConfig)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def deliver(self, event: dict[str, Any]) -> None:
        if self.config.url is None:
            return
        for copy in range(1 + self.config.duplicates):
            task = asyncio.get_running_loop().create_task(self._send(event, copy, self.config))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, event: dict[str, Any], copy: int, config: WebhookConfig) -> None:
        assert config.url is not None
        basic = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        payload = json.dumps({**event, "webhook_status": "scheduled"}).encode()
        async with outgoing.client(timeout=5.0) as client:
            for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
                await asyncio.sleep(delay)
                status: int | None = None
                try:
                    status = (await client.post(config.url, content=payload, headers=headers)).status_code
                except httpx.HTTPError:
                    status = None
                self.attempts.append(
                    {
                        "event": event["id"],
                        "event_type": event["event_type"],
                        "copy": copy,
                        "attempt": attempt,
                        "status": status,
                        "at": time.time(),
                    }
                )
                if status is not None and 200 <= status < 300:
                    return
