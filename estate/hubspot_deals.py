"""Deals put into the HubSpot CRM as a sales rep does, safe to repeat: the demo closes a few of its deals here.

HubSpot has no idempotency key on create, so each record carries our key in `c2c_external_key` and is looked up by
it (`idProperty`) before it is created: a rerun, or a retry after a lost answer, finds the record it made.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx

from estate.book import DealSpec
from estate.deals import persist

PRIMARY_COMPANY, LINE_ITEM_TO_DEAL = 5, 20  # HubSpot-defined association type ids
KEY = "c2c_external_key"


class HubSpotSeeder:
    def __init__(self, http: httpx.AsyncClient, url: str, token: str) -> None:
        self.http, self.url, self.headers = http, url, {"Authorization": f"Bearer {token}"}

    async def _find_or_create(self, kind: str, key: str, properties: dict[str, Any], to: tuple[str, int] | None) -> str:
        path = f"{self.url}/crm/v3/objects/{kind}"
        found = await self.http.get(f"{path}/{key}", params={"idProperty": KEY}, headers=self.headers)
        if found.status_code == 200:
            return str(found.json()["id"])
        if found.status_code != 404:
            found.raise_for_status()
        body: dict[str, Any] = {"properties": {KEY: key, **properties}}
        if to is not None:
            types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": to[1]}]
            body["associations"] = [{"to": {"id": to[0]}, "types": types}]
        created = await self.http.post(path, json=body, headers=self.headers)
        created.raise_for_status()
        return str(created.json()["id"])

    async def seed_deal(self, spec: DealSpec) -> str:
        """Find or create the company, the deal (primary company) and its line items; returns the deal id."""
        a = spec.account
        company = {
            "name": a.name,
            "address": a.street,
            "city": a.city,
            "state": a.state or "",
            "zip": a.postal_code,
            "country": a.country,
            "c2c_tax_id": a.tax_id or "",
            "c2c_billing_email": a.email or "",
        }
        company_id = await persist(lambda: self._find_or_create("companies", a.key, company, None))
        amount = sum(quantity * price for _, quantity, price in spec.lines)
        deal = {
            "dealname": f"{a.name} — {spec.key}",
            "pipeline": "default",
            "dealstage": "contractsent",
            "closedate": f"{spec.close_date}T00:00:00.000Z",
            "deal_currency_code": spec.currency,
            "amount": str(amount),
            "c2c_legal_entity": spec.legal_entity,
            "c2c_term_months": str(spec.term_months),
            "c2c_billing_period": spec.billing_period,
        }
        deal_id = await persist(lambda: self._find_or_create("deals", spec.key, deal, (company_id, PRIMARY_COMPANY)))
        for n, (sku, quantity, price) in enumerate(spec.lines, start=1):
            line = {"name": sku, "hs_sku": sku, "quantity": str(quantity), "price": str(price)}
            key = f"{spec.key}-{n}"
            await persist(
                functools.partial(self._find_or_create, "line_items", key, line, (deal_id, LINE_ITEM_TO_DEAL))
            )
        return deal_id

    async def close_won(self, deal_id: str) -> None:
        """The stage change HubSpot notifies the trigger API of (webhooks v3); saving it again is harmless."""

        async def patch() -> None:
            body = {"properties": {"dealstage": "closedwon"}}
            response = await self.http.patch(
                f"{self.url}/crm/v3/objects/deals/{deal_id}", json=body, headers=self.headers
            )
            response.raise_for_status()

        await persist(patch)
