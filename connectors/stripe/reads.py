"""Reads of Stripe's records: the reconciler's list reads and the lookups the billing client builds on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canonical.records import BillingCreditNote, BillingCustomer, BillingInvoice, BillingSubscription
from connectors.errors import BusinessRuleError, PermanentError
from connectors.stripe import mapping, wire
from connectors.stripe.checks import checked
from connectors.stripe.errors import SYSTEM

LIST_PAGE = 100  # Stripe's largest page


class StripeReads:
    """Mixed into StripeBilling, which supplies the authenticated, classified `_get`."""

    async def _get(self, path: str, **query: Any) -> Any:
        raise NotImplementedError

    # -- reconciliation reads ----------------------------------------------------------------------

    async def invoices_created_since(self, since: datetime) -> list[BillingInvoice]:
        """Every invoice created at or after `since` (every period, any billing reason), newest first, 100 per
        call."""
        return [billing_invoice(checked(wire.Invoice, i)) for i in await self._list_all("/v1/invoices", since)]

    async def subscriptions_created_since(self, since: datetime) -> list[BillingSubscription]:
        """Every subscription created at or after `since`, cancelled ones too."""
        listed = await self._list_all("/v1/subscriptions", since, status="all")
        return [billing_subscription(checked(wire.Subscription, s)) for s in listed]

    async def subscriptions_by_id(self, subscription_ids: list[str]) -> list[BillingSubscription]:
        """These subscriptions (one GET each), e.g. those created before the window whose later periods were
        invoiced in it; an id billing does not know is left out."""
        found = []
        for subscription_id in sorted(set(subscription_ids)):
            try:
                data = checked(wire.Subscription, await self._get(f"/v1/subscriptions/{subscription_id}"))
                found.append(billing_subscription(data))
            except (PermanentError, BusinessRuleError) as exc:
                if exc.status != 404:
                    raise
        return found

    async def credit_notes_created_since(self, since: datetime) -> list[BillingCreditNote]:
        """Every credit note created at or after `since`. Stripe lists credit notes newest first and (in our API
        version) filters them by invoice or customer only, so the pages are read until one reaches past `since`."""
        bound, until = int(since.timestamp()), _until()
        query: dict[str, Any] = {"limit": LIST_PAGE}
        found: list[BillingCreditNote] = []
        while True:
            page = checked(wire.CreditNoteList, await self._get("/v1/credit_notes", **query))
            for note in page["data"]:
                if bound <= note["created"] <= until:
                    found.append(billing_credit_note(note))
            if not page["has_more"] or not page["data"] or page["data"][-1]["created"] < bound:
                return found
            query["starting_after"] = page["data"][-1]["id"]

    async def customers_of(self, golden_ids: list[str]) -> list[BillingCustomer]:
        """The billing customers of these golden customers (all of them: more than one is a duplicate)."""
        found: dict[str, BillingCustomer] = {}
        for golden_id in sorted(set(golden_ids)):
            for customer in await self.search_customers_by_golden_id(golden_id):
                found[customer["id"]] = mapping.billing_customer(customer)
        return sorted(found.values(), key=lambda customer: customer.customer_id)

    async def _list_all(self, path: str, since: datetime, **filters: Any) -> list[Any]:
        """All pages of a Stripe list created from `since` (whole seconds, rounded down) until now."""
        created = {"gte": int(since.timestamp()), "lte": _until()}
        query: dict[str, Any] = {**filters, "created": created, "limit": LIST_PAGE}
        items: list[Any] = []
        while True:
            page = checked(wire.Page, await self._get(path, **query))
            items.extend(page["data"])
            if not page["has_more"] or not page["data"]:
                return items
            query["starting_after"] = page["data"][-1]["id"]

    # -- lookups ---------------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> wire.Invoice:
        """The Stripe invoice, checked (PermanentError 'bad_response' naming a field that does not fit)."""
        return checked(wire.Invoice, await self._get(f"/v1/invoices/{invoice_id}"))

    async def search_customers_by_golden_id(self, golden_id: str) -> list[wire.Customer]:
        """Customers whose metadata golden_id matches (Stripe's search is eventually consistent)."""
        if "'" in golden_id or "\\" in golden_id:
            raise PermanentError(SYSTEM, "invalid_golden_id", f"cannot search for {golden_id!r}")
        found = await self._get("/v1/customers/search", query=f"metadata['{wire.META_GOLDEN_ID}']:'{golden_id}'")
        return checked(wire.CustomerSearch, found)["data"]


# -- mapping of the reconciliation reads (the fields mapping.billing_* leave out) ----------------------------


def _until() -> int:
    """The window's end: now, with a minute for clock skew. Records "created" later exist only on a test clock that
    runs ahead (tests, the demo): they are not in the window being reconciled."""
    return int(datetime.now(UTC).timestamp()) + 60


def _moment(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def billing_invoice(data: wire.Invoice) -> BillingInvoice:
    """mapping.billing_invoice plus the billing reason (which period) and the legal entity c2c wrote."""
    metadata = data["metadata"]
    return mapping.billing_invoice(data).model_copy(
        update={"billing_reason": data.get("billing_reason"), "legal_entity": metadata.get(wire.META_LEGAL_ENTITY)}
    )


def billing_subscription(data: wire.Subscription) -> BillingSubscription:
    """mapping.billing_subscription plus the legal entity and when it ends (`cancel_at`) or ended."""
    metadata = data["metadata"]
    return mapping.billing_subscription(data).model_copy(
        update={
            "legal_entity": metadata.get(wire.META_LEGAL_ENTITY),
            "cancel_at": _moment(data.get("cancel_at")),
            "canceled_at": _moment(data.get("canceled_at")),
            "ended_at": _moment(data.get("ended_at")),
        }
    )


def billing_credit_note(data: wire.CreditNote) -> BillingCreditNote:
    return BillingCreditNote(
        credit_note_id=data["id"],
        number=data.get("number"),
        invoice_id=data["invoice"],
        customer_id=data.get("customer"),
        status=data["status"],
        currency=data["currency"].upper(),
        total=data["total"],
        key=data["metadata"].get(wire.META_IDEMPOTENCY_KEY),
        created=datetime.fromtimestamp(data["created"], UTC),
    )
