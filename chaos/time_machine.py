"""Chargebee's billing time in the chaos run's later periods: the site's Time Machine (`/time_machines/delorean`),
moved beside the Stripe test clock, and the site's webhook pointed at the trigger API so renewals reach the
lifecycles (`subscription_renewed`, then the payment events).

Chargebee's site time runs on with the wall clock between travels, and a subscription renews at its own creation
time of day (its term ends then, not at midnight like the Stripe test clock's), so the run travels to ten minutes
after the latest renewal it waits for. A travel goes through the same faults as every call: its answer may be lost
after the travel happened, so the site's time is read first and a travel is only sent while it is short of the target
(Chargebee refuses a destination that is not in the site's future).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from settings import Settings

MACHINE = "delorean"  # Chargebee's one time machine per test site


@dataclass
class ChargebeeTime:
    http: httpx.AsyncClient
    url: str  # the site's API, …/api/v2
    api_key: str

    @classmethod
    def of(cls, http: httpx.AsyncClient, settings: Settings) -> ChargebeeTime:
        return cls(http, f"{settings.chargebee_url}/api/v2", settings.chargebee_api_key.get_secret_value())

    async def now(self) -> datetime | None:
        """The site's time (the time machine's `destination_time`); None when the faults ate the answer."""
        machine = await self._call("GET", "")
        if machine is None or not isinstance(machine.get("destination_time"), int):
            return None
        return datetime.fromtimestamp(machine["destination_time"], UTC)

    async def travel(self, to: datetime) -> None:
        """Until the site's time is at or past `to`: read it, travel when short (a lost answer is not sent again)."""
        target = int(to.timestamp())
        while True:
            now = await self.now()
            if now is None:
                await asyncio.sleep(0.5)
            elif now.timestamp() >= target:
                return
            else:
                machine = await self._call("POST", "/travel_forward", {"destination_time": str(target)})
                if machine is not None and machine.get("time_travel_status") == "in_progress":
                    await asyncio.sleep(0.5)  # real Chargebee travels asynchronously: read again

    async def _call(self, method: str, action: str, form: dict[str, str] | None = None) -> dict[str, Any] | None:
        try:
            answer = await self.http.request(
                method, f"{self.url}/time_machines/{MACHINE}{action}", data=form, auth=(self.api_key, "")
            )
        except httpx.HTTPError:
            return None
        if answer.status_code >= 300:
            return None  # a fault (429, 5xx) or a travel refused because the site got there meanwhile: read again
        try:
            machine = answer.json().get("time_machine")
        except ValueError:
            return None
        return machine if isinstance(machine, dict) else None


async def hook_chargebee(http: httpx.AsyncClient, settings: Settings, api_port: int) -> None:
    """Chargebee's webhook to the trigger API (basic auth as configured), each event sent twice like Stripe's."""
    body = {
        "url": f"http://127.0.0.1:{api_port}/webhooks/chargebee",
        "username": settings.chargebee_webhook_username,
        "password": settings.chargebee_webhook_password.get_secret_value(),
        "duplicates": 1,
    }
    (await http.post(f"{settings.chargebee_url}/_sandbox/webhook", json=body)).raise_for_status()
