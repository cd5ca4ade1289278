"""Later billing periods: the invoices Stripe makes at each period end (`billing_reason: subscription_cycle`),
and completing a draft with our tax line, shared with the subscription's first invoice. A renewal after an
amendment also carries its prorations (`invoiceitem` lines with `proration: true`), and one of a subscription
with a metered price the usage of the period just ended (a `subscription` line of the metered price, its period
the one consumed): both map to the RenewalInvoice's and the Invoice's `adjustments` (usage ones `usage=True`),
and the draft must bill the canonical adjustments too. A metered line without usage is left out.

How tax reaches a renewal: Stripe creates the renewal as an `auto_advance` draft and finalizes it about an
hour later (at Stripe, an hour after our endpoint answered `invoice.created`). c2c holds the draft
(`auto_advance` off), adds the tax line its tax engine quoted for the period and finalizes it itself. A renewal
Stripe finalized before c2c reached it (c2c down for longer than that hour) is taken as it is if it already
carries the tax (a retry after our own finalize), else refused with BusinessRuleError
'renewal_finalized_without_tax' so the period parks for finance instead of billing without tax."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from canonical import Invoice, RenewalInvoice
from connectors.errors import BusinessRuleError, PermanentError
from connectors.stripe import mapping, wire
from connectors.stripe.checks import checked
from connectors.stripe.errors import SYSTEM

LIST_PAGE = 100


class StripeRenewals:
    """Mixed into StripeBilling, which supplies the authenticated, classified `_get` / `_post`."""

    async def _get(self, path: str, **query: Any) -> Any:
        raise NotImplementedError

    async def _post(self, path: str, form: dict[str, Any], *, idempotency_key: str) -> Any:
        raise NotImplementedError

    async def _product_codes(self, invoice: wire.Invoice) -> dict[str, str]:
        raise NotImplementedError

    async def renewal_invoices(self, subscription_id: str) -> list[RenewalInvoice]:
        """Every renewal invoice of the subscription (all pages), oldest period first."""
        query: dict[str, Any] = {"subscription": subscription_id, "limit": LIST_PAGE}
        found: list[RenewalInvoice] = []
        while True:
            page = checked(wire.InvoiceList, await self._get("/v1/invoices", **query))
            for data in page["data"]:
                renewal = await self._renewal_of(data)
                if renewal is not None:
                    found.append(renewal)
            if not page["has_more"] or not page["data"]:
                return sorted(found, key=lambda r: r.period_start)
            query["starting_after"] = page["data"][-1]["id"]

    async def renewal_invoice(self, invoice_id: str) -> RenewalInvoice | None:
        """The invoice as Stripe has it now, when it is a renewal; None for any other invoice."""
        return await self._renewal_of(checked(wire.Invoice, await self._get(f"/v1/invoices/{invoice_id}")))

    async def _renewal_of(self, data: wire.Invoice) -> RenewalInvoice | None:
        """`renewal_of`, with the product codes of proration lines whose price carries none read first."""
        if data["billing_reason"] != wire.BILLING_REASON_CYCLE:
            return None
        prorations = any(mapping.is_proration(i) or mapping.is_usage(i) for i in data["lines"]["data"])
        return renewal_of(data, await self._product_codes(data) if prorations else {})

    async def invoice_prorations(
        self, customer_id: str, subscription_id: str, *, idempotency_key: str
    ) -> RenewalInvoice | None:
        """Bill the subscription's pending prorations now, on a draft of their own that c2c completes like a
        renewal (`POST /v1/invoices` with `subscription`: Stripe sweeps in that subscription's pending items).
        Only when they net to a charge: a net credit stays pending for the next renewal invoice, where Stripe
        would also have taken it (an `always_invoice` credit goes to the customer's balance, which the next
        invoice draws on). Looked up by our key first, so a retry after a lost answer makes no second one."""
        made = await self._proration_invoice_by_key(subscription_id, idempotency_key)
        if made is None:
            page = checked(
                wire.PendingItemList,
                await self._get("/v1/invoiceitems", customer=customer_id, pending="true", limit=LIST_PAGE),
            )
            items = [i for i in page["data"] if i["subscription"] == subscription_id and i["proration"]]
            if sum(item["amount"] for item in items) <= 0:
                return None
            form = {
                "customer": customer_id,
                "subscription": subscription_id,
                "pending_invoice_items_behavior": "include",
                "auto_advance": False,
                "metadata": {wire.META_IDEMPOTENCY_KEY: idempotency_key},
            }
            made = checked(wire.Invoice, await self._post("/v1/invoices", form, idempotency_key=idempotency_key))
        return proration_invoice_of(made, await self._product_codes(made))

    async def _proration_invoice_by_key(self, subscription_id: str, idempotency_key: str) -> wire.Invoice | None:
        query: dict[str, Any] = {"subscription": subscription_id, "limit": LIST_PAGE}
        while True:
            page = checked(wire.InvoiceList, await self._get("/v1/invoices", **query))
            for data in page["data"]:
                if data["metadata"].get(wire.META_IDEMPOTENCY_KEY) == idempotency_key:
                    return data
            if not page["has_more"] or not page["data"]:
                return None
            query["starting_after"] = page["data"][-1]["id"]

    async def complete_renewal_invoice(
        self, customer_id: str, invoice_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Hold the renewal draft, check it bills `invoice`'s lines and adjustments (the prorations of an amendment
        in the period before), add the tax line and our metadata."""
        draft = checked(wire.Invoice, await self._get(f"/v1/invoices/{invoice_id}"))
        if draft["status"] != wire.INVOICE_DRAFT:
            codes = await self._product_codes(draft)
            current = mapping.invoice_from_stripe(draft, codes)
            if current.tax != invoice.tax:
                raise BusinessRuleError(
                    SYSTEM,
                    "renewal_finalized_without_tax",
                    f"{invoice_id} was finalized ({draft['status']}) before c2c added its tax of {invoice.tax}",
                )
            return current
        if draft["auto_advance"]:
            await self._post(
                f"/v1/invoices/{invoice_id}", {"auto_advance": False}, idempotency_key=f"{idempotency_key}:hold"
            )
        return await self._complete_draft(draft, customer_id, invoice, idempotency_key)

    async def _complete_draft(
        self, draft: wire.Invoice, customer_id: str, invoice: Invoice, idempotency_key: str
    ) -> Invoice:
        """Check the draft bills the canonical lines and adjustments, the prorations one for one by product code
        and amount (PermanentError 'invoice_mismatch'), add the tax line unless
        an earlier attempt did, and our metadata (ids, dates, workflow); checks the total."""
        invoice_id = draft["id"]
        if draft["customer"] != customer_id:
            raise PermanentError(
                SYSTEM, "invoice_mismatch", f"{invoice_id} is billed to {draft['customer']}, not {customer_id}"
            )
        codes = await self._product_codes(draft)
        problems = mapping.invoice_differences(draft, invoice, codes)
        if problems:
            raise PermanentError(
                SYSTEM, "invoice_mismatch", f"{invoice_id} does not bill the invoice: {'; '.join(problems)}"
            )
        if invoice.tax.amount and not any(mapping.is_tax_line(item) for item in draft["lines"]["data"]):
            await self._post(
                "/v1/invoiceitems",
                mapping.tax_item_params(customer_id, invoice_id, invoice),
                idempotency_key=f"{idempotency_key}:tax",
            )
        updated = await self._post(
            f"/v1/invoices/{invoice_id}",
            {"metadata": mapping.invoice_metadata(invoice), "auto_advance": False},
            idempotency_key=f"{idempotency_key}:metadata",
        )
        result = mapping.invoice_from_stripe(checked(wire.Invoice, updated), codes)
        if result.total != invoice.total:
            raise PermanentError(
                SYSTEM, "total_mismatch", f"{invoice_id} totals {result.total}, expected {invoice.total}"
            )
        return result


def renewal_of(data: wire.Invoice, product_codes: Mapping[str, str] | None = None) -> RenewalInvoice | None:
    """A `subscription_cycle` invoice as a RenewalInvoice (its service period from its subscription line), its
    proration lines (amendments of the period before) as `adjustments`; `product_codes` (product id -> code)
    covers prices without one."""
    subscription = data["subscription"]
    if data["billing_reason"] != wire.BILLING_REASON_CYCLE or subscription is None:
        return None
    # A metered line's period is the period consumed (the one before): the service period is a licensed line's.
    lines = [
        item
        for item in data["lines"]["data"]
        if item["type"] == wire.LINE_TYPE_SUBSCRIPTION and not mapping.is_metered(item["price"])
    ]
    if not lines or "period" not in lines[0]:
        raise PermanentError(SYSTEM, "bad_response", f"renewal {data['id']} has no subscription line with a period")
    period = lines[0]["period"]
    currency = data["currency"].upper()
    adjustments = [
        mapping.adjustment_of(item, product_codes or {}, currency)
        for item in data["lines"]["data"]
        if mapping.is_proration(item) or mapping.is_usage(item)
    ]
    return RenewalInvoice(
        invoice_id=data["id"],
        subscription_id=subscription,
        status=data["status"],
        period_start=datetime.fromtimestamp(period["start"], UTC),
        period_end=datetime.fromtimestamp(period["end"], UTC),
        deal_id=lines[0]["metadata"].get(wire.META_DEAL_ID),
        adjustments=adjustments,
    )


def proration_invoice_of(data: wire.Invoice, product_codes: Mapping[str, str]) -> RenewalInvoice:
    """An invoice of prorations alone (`invoice_prorations`) as a RenewalInvoice: its period is the prorations'
    (from the change to the period's end), its lines all `adjustments`."""
    currency = str(data["currency"]).upper()
    items = [item for item in data["lines"]["data"] if mapping.is_proration(item)]
    if not items:
        raise PermanentError(SYSTEM, "bad_response", f"proration invoice {data['id']} has no proration line")
    adjustments = [mapping.adjustment_of(item, product_codes, currency) for item in items]
    return RenewalInvoice(
        invoice_id=data["id"],
        subscription_id=str(data["subscription"]),
        status=data["status"],
        period_start=datetime.fromtimestamp(min(item["period"]["start"] for item in items), UTC),
        period_end=datetime.fromtimestamp(max(item["period"]["end"] for item in items), UTC),
        adjustments=adjustments,
    )
