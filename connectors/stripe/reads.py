"""Reads of Stripe's records: the reconciler's list reads and the lookups the billing client builds on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from canonical.records import BillingCustomer, BillingInvoice, BillingSubscription
from connectors.errors import PermanentError
from connectors.stripe import mapping, wire
from connectors.stripe.errors import SYSTEM

LIST_PAGE = 100  # Stripe's largest page


class StripeReads:
    """Mixed into StripeBilling, which supplies the authenticated, classified `_get`."""

    async def _get(self, path: str, **query: Any) -> Any:
        raise NotImplementedError

    # -- reconciliation reads ----------------------------------------------------------------------

    async def invoices_created_since(self, since: datetime) -> list[BillingInvoice]:
        """Every invoice created at or after `since`, newest first, 100 per call."""
        return [mapping.billing_invoice(i) for i in await self._list_all("/v1/invoices", since)]

    async def subscriptions_created_since(self, since: datetime) -> list[BillingSubscription]:
        """Every subscription created at or after `since`, cancelled ones too."""
        listed = await self._list_all("/v1/subscriptions", since, status="all")
        return [mapping.billing_subscription(s) for s in listed]

    async def customers_of(self, golden_ids: list[str]) -> list[BillingCustomer]:
        """The billing customers of these golden customers (all of them: more than one is a duplicate)."""
        found: dict[str, BillingCustomer] = {}
        for golden_id in sorted(set(golden_ids)):
            for customer in await self.search_customers_by_golden_id(golden_id):
                found[customer["id"]] = mapping.billing_customer(customer)
        return sorted(found.values(), key=lambda customer: customer.customer_id)

    async def _list_all(self, path: str, since: datetime, **filters: Any) -> list[dict[str, Any]]:
        """All pages of a Stripe list filtered by `created[gte]` (whole seconds, rounded down)."""
        query: dict[str, Any] = {**filters, "created": {"gte": int(since.timestamp())}, "limit": LIST_PAGE}
        items: list[dict[str, Any]] = []
        while True:
            page = await self._get(path, **query)
            items.extend(page["data"])
            if not page["has_more"] or not page["data"]:
                return items
            query["starting_after"] = page["data"][-1]["id"]

    # -- lookups ---------------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> Any:
        """The raw Stripe invoice (dict)."""
        return await self._get(f"/v1/invoices/{invoice_id}")

    async def search_customers_by_golden_id(self, golden_id: str) -> list[dict[str, Any]]:
        """Customers whose metadata golden_id matches (Stripe's search is eventually consistent)."""
        if "'" in golden_id or "\\" in golden_id:
            raise PermanentError(SYSTEM, "invalid_golden_id", f"cannot search for {golden_id!r}")
        found = await self._get("/v1/customers/search", query=f"metadata['{wire.META_GOLDEN_ID}']:'{golden_id}'")
        return list(found["data"])
