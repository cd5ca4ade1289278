"""What people do during a chaos run besides c2c: customers switch to bank debit in the billing portal, HubSpot's
sales reps create and win deals. Their requests meet the same faults as c2c's, so each is retried the way a person
would retry a failed save (Salesforce reps' deals: estate.deals).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from connectors.errors import TransientError
from estate.book import DealSpec
from estate.deals import persist
from estate.hubspot_deals import HubSpotSeeder

T = TypeVar("T")

BANK_DEBIT = "pm_usBankAccount_success"


async def pay_by_bank_debit(http: httpx.AsyncClient, stripe_url: str, api_key: str, customer: str) -> None:
    """The customer makes a US bank account their default payment method (Stripe's test bank account)."""

    async def update() -> None:
        response = await http.post(
            f"{stripe_url}/v1/customers/{customer}",
            data={"invoice_settings[default_payment_method]": BANK_DEBIT},
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"chaos:bank-debit:{customer}"},
        )
        if response.status_code in (409, 429) or response.status_code >= 500:  # as `passing`
            raise TransientError("stripe", f"http_{response.status_code}", response.text)
        response.raise_for_status()

    await persist(update)


def passing(error: httpx.HTTPStatusError) -> bool:
    """A 429 or 5xx answer: the save failed and may work a moment later."""
    return error.response.status_code in (409, 429) or error.response.status_code >= 500


async def resaved(call: Callable[[], Awaitable[T]]) -> T:
    """`call` again while HubSpot answers 429/5xx (HubSpotSeeder itself retries dropped connections only); each
    step of it finds its record by external key first, so a repeat creates nothing."""

    async def attempt() -> T:
        try:
            return await call()
        except httpx.HTTPStatusError as error:
            if passing(error):
                raise httpx.TransportError(str(error)) from error
            raise

    return await persist(attempt)


class HubSpotReps:
    """HubSpot's sales reps: each deal created open, later moved to closedwon (HubSpot's webhook tells c2c)."""

    def __init__(self, seeder: HubSpotSeeder) -> None:
        self.seeder = seeder

    async def create(self, spec: DealSpec) -> str:
        return await resaved(lambda: self.seeder.seed_deal(spec))

    async def close_won(self, deal_id: str) -> None:
        await resaved(lambda: self.seeder.close_won(deal_id))
