"""Later billing periods on Chargebee: the invoice a subscription's renewal makes, completed with our tax line like
the first, and invoices of prorations alone.

A Chargebee invoice has no billing reason: every invoice of a subscription is `recurring`. A *renewal* is one that
is not the subscription's `first_invoice` and has the base plan's line (every c2c subscription has the zero-priced
plan) over the new term: that line's period is the service period. Prorated charges of a change made in the term
before (unbilled charges, billed by the renewal) are addon lines over a part period: the RenewalInvoice's and the
Invoice's `adjustments`. The subscription holds its invoices `pending` (`create_pending_invoices`), so c2c adds the
tax line and closes the renewal itself, as it does the first invoice; one closed without our tax is refused
BusinessRuleError 'renewal_finalized_without_tax' (the period parks for finance)."""

from __future__ import annotations

from typing import Any

from canonical import Invoice, RenewalInvoice, SubscriptionEnd
from connectors.chargebee import mapping, wire
from connectors.chargebee.calls import ChargebeeCalls
from connectors.chargebee.errors import SYSTEM, path_id
from connectors.chargebee.errors import checked as _checked
from connectors.errors import BusinessRuleError, PermanentError

Record = dict[str, Any]


class ChargebeeRenewals(ChargebeeCalls):
    """Mixed into ChargebeeBilling, which supplies the calls and lookups."""

    async def _complete_pending(
        self, pending: Record, customer_id: str, invoice: Invoice, key: str
    ) -> tuple[Record, dict[str, str]]:
        raise NotImplementedError

    async def _completed(self, data: Record, invoice: Invoice, codes: dict[str, str], saga: str | None) -> Invoice:
        raise NotImplementedError

    async def _canonical(self, invoice: Record, saga: str | None, codes: dict[str, str] | None = None) -> Invoice:
        raise NotImplementedError

    async def _subscription(self, subscription_id: str) -> Record:
        """The subscription; PermanentError 'resource_missing' (404) when Chargebee has none by that id."""
        found = await self._get(f"/subscriptions/{path_id(subscription_id)}", "subscription", missing_ok=True)
        if found is None:
            raise PermanentError(
                SYSTEM, "resource_missing", f"no Chargebee subscription {subscription_id!r}", status=404
            )
        return found

    async def renewal_invoices(self, subscription_id: str) -> list[RenewalInvoice]:
        """Every renewal invoice of the subscription, oldest period first; an unknown subscription is refused."""
        subscription = await self._subscription(subscription_id)
        rows = await self._list("invoices", "invoice", subscription_id={"is": subscription_id})
        found = [await self._renewal_of(row, subscription) for row in rows if is_renewal(row)]
        return sorted((r for r in found if r is not None), key=lambda r: r.period_start)

    async def renewal_invoice(self, invoice_id: str) -> RenewalInvoice | None:
        """The invoice as Chargebee has it now, when it is a renewal; None for any other invoice."""
        data = await self._invoice(invoice_id)
        if not is_renewal(data):
            return None
        return await self._renewal_of(data, await self._subscription(str(data["subscription_id"])))

    async def _renewal_of(self, data: Record, subscription: Record) -> RenewalInvoice:
        codes = await self._product_codes(data) if _checked(mapping.proration_lines, data) else {}
        return _checked(renewal_of, data, subscription, codes)

    async def complete_renewal_invoice(
        self, customer_id: str, invoice_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Check the pending renewal bills `invoice`'s lines and prorations and add our tax line (see the module).
        Already closed: taken as it is when it carries our tax (a retry after our own close), else refused."""
        data = await self._invoice(invoice_id)
        if data["status"] != "pending":
            codes = await self._product_codes(data)
            current = await self._canonical(data, saga=None, codes=codes)
            if current.tax != invoice.tax or data.get("customer_id") != customer_id:
                raise BusinessRuleError(
                    SYSTEM,
                    "renewal_finalized_without_tax",
                    f"{invoice_id} was closed ({data['status']}) before c2c added its tax of {invoice.tax}",
                )
            return await self._completed(data, invoice, codes, None)
        data, codes = await self._complete_pending(data, customer_id, invoice, idempotency_key)
        return await self._completed(data, invoice, codes, None)

    async def invoice_prorations(
        self, customer_id: str, subscription_id: str, *, idempotency_key: str
    ) -> RenewalInvoice | None:
        """Bill the subscription's unbilled charges (prorations of a change) now, on a pending invoice of their own
        (`POST /unbilled_charges/invoice_unbilled_charges`) that c2c completes like a renewal; None when there are
        none. Found again without the key: a pending invoice of prorations alone is one whose answer was lost (c2c
        completes each before the next change), so a retry returns it instead of looking for charges again."""
        subscription = await self._subscription(subscription_id)
        if subscription.get("customer_id") != customer_id:
            raise PermanentError(SYSTEM, "subscription_mismatch", f"{subscription_id} belongs to another customer")
        rows = await self._list(
            "invoices", "invoice", subscription_id={"is": subscription_id}, status={"is": "pending"}
        )
        made = next((row for row in rows if _prorations_alone(row)), None)
        if made is None:
            charges = await self._list("unbilled_charges", "unbilled_charge", subscription_id={"is": subscription_id})
            if sum(wire.integer(charge, "amount") for charge in charges) <= 0:
                return None
            params = {"subscription_id": subscription_id}
            body = await self._request(
                "POST", "/unbilled_charges/invoice_unbilled_charges", params=params, key=idempotency_key
            )
            invoices = _checked(_invoices_in, body)
            made = next((row for row in invoices if row.get("subscription_id") == subscription_id), None)
            if made is None:
                raise PermanentError(SYSTEM, "bad_response", f"no invoice of {subscription_id}'s unbilled charges")
        codes = await self._product_codes(made)
        return _checked(proration_invoice_of, made, subscription, codes)

    async def bills_later_period(self, invoice_id: str) -> bool:
        """The invoice is not its subscription's first (a renewal, or prorations): the lifecycle bills it, not the
        deal's saga, so its payment events go to the lifecycle."""
        return not (await self._invoice(invoice_id)).get("first_invoice")

    async def subscription_end(self, subscription_id: str) -> SubscriptionEnd | None:
        """When a cancelled subscription ended (`cancelled_at`); None while it runs (or is only `non_renewing`)."""
        data = await self._subscription(subscription_id)
        ended = mapping.moment(data.get("cancelled_at"))
        if data["status"] != "cancelled" or ended is None:
            return None
        return SubscriptionEnd(
            subscription_id=subscription_id,
            deal_id=wire.meta_data(data).get(mapping.META_DEAL_ID),
            ended_at=ended,
        )


def is_renewal(data: Record) -> bool:
    """An invoice a subscription's renewal made: recurring, not the first, with the plan's line over the term."""
    plan = any(line.get("entity_type") == mapping.PLAN_LINE for line in wire.records_in(data, "line_items"))
    return bool(data.get("subscription_id")) and not data.get("first_invoice") and plan


def _prorations_alone(data: Record) -> bool:
    return bool(mapping.proration_lines(data)) and not mapping.product_lines(data) and not is_renewal(data)


def renewal_of(data: Record, subscription: Record, codes: dict[str, str]) -> RenewalInvoice:
    plan = next(line for line in wire.records_in(data, "line_items") if line.get("entity_type") == mapping.PLAN_LINE)
    start, end = mapping.moment(plan.get("date_from")), mapping.moment(plan.get("date_to"))
    if start is None or end is None:
        raise ValueError(f"{data['id']}.line_items: the plan line's date_from or date_to is not a unix time")
    return RenewalInvoice(
        invoice_id=data["id"],
        subscription_id=str(data["subscription_id"]),
        status=mapping.invoice_status(wire.text(data, "status")),
        period_start=start,
        period_end=end,
        deal_id=wire.meta_data(subscription).get(mapping.META_DEAL_ID),
        adjustments=mapping.adjustments_of(data, codes),
    )


def proration_invoice_of(data: Record, subscription: Record, codes: dict[str, str]) -> RenewalInvoice:
    """An invoice of prorations alone as a RenewalInvoice: its period is the prorations' (from the change to the
    term's end), its lines all `adjustments`."""
    lines = mapping.proration_lines(data)
    if not lines:
        raise ValueError(f"proration invoice {data['id']} has no prorated line")
    starts = [mapping.moment(line.get("date_from")) for line in lines]
    ends = [mapping.moment(line.get("date_to")) for line in lines]
    if None in starts or None in ends:
        raise ValueError(f"{data['id']}.line_items: a proration's date_from or date_to is not a unix time")
    return RenewalInvoice(
        invoice_id=data["id"],
        subscription_id=str(data["subscription_id"]),
        status=mapping.invoice_status(wire.text(data, "status")),
        period_start=min(s for s in starts if s is not None),
        period_end=max(e for e in ends if e is not None),
        deal_id=wire.meta_data(subscription).get(mapping.META_DEAL_ID),
        adjustments=mapping.adjustments_of(data, codes),
    )


def _invoices_in(body: Any) -> list[Record]:
    if not isinstance(body, dict) or not isinstance(body.get("invoices"), list):
        raise ValueError("answer has no invoices list")
    return [wire.record({"invoice": row}, "invoice") for row in body["invoices"]]
