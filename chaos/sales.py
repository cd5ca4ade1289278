"""What people do during a chaos run besides c2c: customers switch to bank debit in the billing portal, HubSpot's
sales reps create and win deals. Their requests meet the same faults as c2c's, so each is retried the way a person
would retry a failed save (Salesforce reps' deals: estate.deals).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import httpx

from connectors.errors import TransientError
from estate.book import DealSpec
from estate.deals import persist
from estate.hubspot_deals import LINE_ITEM_TO_DEAL, HubSpotSeeder

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

    async def amend(
        self, key: str, contract_deal_id: str, lines: tuple[tuple[str, int, Decimal], ...], currency: str, on: date
    ) -> str:
        """A won change to the contract on deal `contract_deal_id` (connectors/hubspot/contracts.py): a deal with
        `c2c_contract_deal_id`, `c2c_change_type` amendment, `c2c_effective_date` and line items whose quantity is
        the change, created open (each record found by its key first), then moved to closedwon."""
        seeder = self.seeder
        deal = {
            "dealname": f"Amendment — {key}",
            "pipeline": "default",
            "dealstage": "contractsent",
            "closedate": f"{on.isoformat()}T00:00:00.000Z",
            "deal_currency_code": currency,
            "amount": str(sum(quantity * price for _, quantity, price in lines)),
            "c2c_contract_deal_id": contract_deal_id,
            "c2c_change_type": "amendment",
            "c2c_effective_date": on.isoformat(),
        }
        deal_id = await resaved(lambda: seeder._find_or_create("deals", key, deal, None))
        for n, (sku, quantity, price) in enumerate(lines, start=1):
            line = {"name": sku, "hs_sku": sku, "quantity": str(quantity), "price": str(price)}
            step = functools.partial(
                seeder._find_or_create, "line_items", f"{key}-{n}", line, (deal_id, LINE_ITEM_TO_DEAL)
            )
            await resaved(step)
        await self.close_won(deal_id)
        return deal_id
