"""Billing time in the sandbox: a Stripe test clock that the demo, the chaos run and the tests move forward, so
that subscriptions renew (renewal invoices, `invoice.created` webhooks) months ahead of the wall clock; and
Chargebee's Time Machine, the same for a Chargebee site (the demo moves both together).

The worker's billing connector puts every new customer on the clock named by `C2C_STRIPE_TEST_CLOCK`; a Chargebee
site has one time for all its customers (its time machine `delorean`)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx


class TestClock:
    """One Stripe test clock of the sandbox (or of Stripe in test mode), created frozen at `frozen`."""

    __test__ = False  # not a pytest test class

    def __init__(self, http: httpx.AsyncClient, stripe_url: str, api_key: str, clock_id: str) -> None:
        self.http, self.base, self.clock_id = http, stripe_url.rstrip("/"), clock_id
        self.headers = {"Authorization": f"Bearer {api_key}"}

    @classmethod
    async def create(
        cls, http: httpx.AsyncClient, stripe_url: str, api_key: str, name: str, frozen: datetime | None = None
    ) -> TestClock:
        at = frozen or datetime.now(UTC)
        answer = await http.post(
            f"{stripe_url.rstrip('/')}/v1/test_helpers/test_clocks",
            data={"frozen_time": str(int(at.timestamp())), "name": name},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        answer.raise_for_status()
        return cls(http, stripe_url, api_key, answer.json()["id"])

    async def now(self) -> datetime:
        answer = await self.http.get(f"{self.base}/v1/test_helpers/test_clocks/{self.clock_id}", headers=self.headers)
        answer.raise_for_status()
        return datetime.fromtimestamp(answer.json()["frozen_time"], UTC)

    async def advance(self, to: datetime, timeout: float = 120) -> None:
        """Move the clock to `to` (renewals happen on the way, their webhooks sent) and wait until it is ready."""
        url = f"{self.base}/v1/test_helpers/test_clocks/{self.clock_id}"
        answer = await self.http.post(
            f"{url}/advance", data={"frozen_time": str(int(to.timestamp()))}, headers=self.headers
        )
        answer.raise_for_status()
        deadline = time.monotonic() + timeout
        while (await self.http.get(url, headers=self.headers)).json()["status"] != "ready":
            if time.monotonic() > deadline:
                raise TimeoutError(f"test clock {self.clock_id} not ready after {timeout:.0f}s")
            await asyncio.sleep(0.1)


class TimeMachine:
    """A Chargebee test site's time machine: `start_afresh` sets the site's time (and clears its customer data),
    `travel_forward` moves it on, renewing what falls due on the way (its webhooks sent)."""

    def __init__(self, http: httpx.AsyncClient, chargebee_url: str, api_key: str) -> None:
        self.http, self.auth = http, (api_key, "")
        self.url = f"{chargebee_url.rstrip('/')}/api/v2/time_machines/delorean"

    async def _call(self, action: str, form: dict[str, str], timeout: float = 120) -> dict[str, object]:
        answer = await self.http.post(f"{self.url}/{action}", data=form, auth=self.auth)
        answer.raise_for_status()
        deadline = time.monotonic() + timeout
        machine: dict[str, object] = answer.json()["time_machine"]
        # Chargebee travels asynchronously: poll until the travel is no longer in progress.
        while machine["time_travel_status"] == "in_progress":
            if time.monotonic() > deadline:
                raise TimeoutError(f"Chargebee's time machine still travelling after {timeout:.0f}s")
            await asyncio.sleep(0.1)
            polled = await self.http.get(self.url, auth=self.auth)
            polled.raise_for_status()
            machine = polled.json()["time_machine"]
        if machine["time_travel_status"] != "succeeded":
            raise RuntimeError(f"Chargebee's time machine {action}: {machine}")
        return machine

    async def start_afresh(self, genesis: datetime) -> None:
        await self._call("start_afresh", {"genesis_time": str(int(genesis.timestamp()))})

    async def travel_forward(self, to: datetime) -> None:
        await self._call("travel_forward", {"destination_time": str(int(to.timestamp()))})
