"""Chargebee's records as the reconciler reads them (canonical/records.py), in the canonical words: an invoice is
draft / open / paid / void, a subscription `canceled` once Chargebee says `cancelled`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from canonical.records import BillingCreditNote, BillingCustomer, BillingInvoice, BillingSubscription, CustomerFields
from connectors.chargebee import mapping, wire
from connectors.chargebee.calls import ChargebeeCalls
from connectors.chargebee.errors import checked

Record = dict[str, Any]


class ChargebeeReads(ChargebeeCalls):
    """The reconciliation reads; ChargebeeBilling provides the calls (calls.py)."""

    async def invoices_created_since(self, since: datetime) -> list[BillingInvoice]:
        """Every invoice dated at or after `since` (Chargebee filters invoices by `date`), with the ids c2c wrote
        on its subscription."""
        rows = await self._list("invoices", "invoice", date={"after": int(since.timestamp()) - 1})
        subscriptions = await self._subscriptions({str(r["subscription_id"]) for r in rows if r.get("subscription_id")})
        return [checked(billing_invoice, row, subscriptions.get(str(row.get("subscription_id")))) for row in rows]

    async def subscriptions_created_since(self, since: datetime) -> list[BillingSubscription]:
        rows = await self._list("subscriptions", "subscription", created_at={"after": int(since.timestamp()) - 1})
        return [checked(billing_subscription, row) for row in rows]

    async def subscriptions_by_id(self, subscription_ids: list[str]) -> list[BillingSubscription]:
        found = await self._subscriptions(set(subscription_ids))
        return [checked(billing_subscription, found[key]) for key in sorted(found)]

    async def customers_of(self, golden_ids: list[str]) -> list[BillingCustomer]:
        """The customer `c2c-{golden id}` of each golden customer that has one."""
        found = []
        for golden_id in sorted(set(golden_ids)):
            row = await self._get(f"/customers/{mapping.customer_id(golden_id)}", "customer", missing_ok=True)
            if row is not None:
                found.append(checked(billing_customer, row))
        return found

    async def credit_notes_created_since(self, since: datetime) -> list[BillingCreditNote]:
        rows = await self._list("credit_notes", "credit_note", date={"after": int(since.timestamp()) - 1})
        return [checked(billing_credit_note, row) for row in rows]

    async def _subscriptions(self, subscription_ids: set[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        ordered = sorted(subscription_ids)
        for start in range(0, len(ordered), 100):  # `id[in]` of up to a page at a time
            batch = ordered[start : start + 100]
            for row in await self._list("subscriptions", "subscription", id={"in": json.dumps(batch)}):
                found[row["id"]] = row
        return found


def billing_invoice(row: Record, subscription: Record | None) -> BillingInvoice:
    meta = wire.meta_data(subscription or {})
    lines = list(wire.records_in(row, "line_items"))
    tax_lines = [line for line in lines if mapping.is_tax_line(line)]
    linked = [p for p in wire.records_in(row, "linked_payments") if p.get("txn_status") == "success"]
    document = str(tax_lines[0]["description"])[len(mapping.TAX_PREFIX) + 2 : -1] if tax_lines else None
    return BillingInvoice(
        invoice_id=row["id"],
        number=row["id"],
        subscription_id=row.get("subscription_id"),
        customer_id=wire.text(row, "customer_id"),
        saga_id=meta.get(mapping.META_SAGA),
        status=mapping.invoice_status(wire.text(row, "status")),
        currency=wire.currency(row, "currency_code"),
        total=wire.integer(row, "total"),
        tax=sum(wire.integer(line, "amount") for line in tax_lines),
        amount_paid=wire.integer(row, "amount_paid"),
        payment_id=str(linked[-1].get("txn_id")) if linked else None,
        tax_document_code=document or None,
        created=mapping.moment(row.get("date")) or _missing(row, "date"),
        finalized_at=mapping.moment(row.get("generated_at")),
        paid_at=mapping.moment(row.get("paid_at")),
        billing_reason="subscription_create" if row.get("first_invoice") else "subscription_cycle",
        legal_entity=meta.get(mapping.META_LEGAL_ENTITY),
    )


def billing_subscription(row: Record) -> BillingSubscription:
    meta = wire.meta_data(row)
    status = wire.text(row, "status")
    cancelled = mapping.moment(row.get("cancelled_at"))
    return BillingSubscription(
        subscription_id=row["id"],
        deal_id=meta.get(mapping.META_DEAL_ID),
        customer_id=wire.text(row, "customer_id"),
        status="canceled" if status == "cancelled" else status,
        created=mapping.moment(row.get("created_at")) or _missing(row, "created_at"),
        legal_entity=meta.get(mapping.META_LEGAL_ENTITY),
        cancel_at=cancelled if status == "non_renewing" else None,
        canceled_at=cancelled,
        ended_at=cancelled if status == "cancelled" else None,
    )


def billing_customer(row: Record) -> BillingCustomer:
    address = row.get("billing_address") if isinstance(row.get("billing_address"), dict) else None
    return BillingCustomer(
        customer_id=row["id"],
        golden_id=wire.meta_data(row).get(mapping.META_GOLDEN_ID),
        fields=CustomerFields(
            name=row.get("company") if isinstance(row.get("company"), str) else None,
            address=mapping.address_of(address) if address else None,
            tax_id=row.get("vat_number") if isinstance(row.get("vat_number"), str) else None,
        ),
    )


def billing_credit_note(row: Record) -> BillingCreditNote:
    notes = row.get("customer_notes")
    return BillingCreditNote(
        credit_note_id=row["id"],
        number=row["id"],
        invoice_id=wire.text(row, "reference_invoice_id"),
        customer_id=row.get("customer_id") if isinstance(row.get("customer_id"), str) else None,
        status="void" if row.get("status") == "voided" else "issued",
        currency=wire.currency(row, "currency_code"),
        total=wire.integer(row, "total"),
        key=notes if isinstance(notes, str) and notes.startswith(mapping.CREDIT_MARK) else None,
        created=mapping.moment(row.get("date")) or _missing(row, "date"),
    )


def _missing(row: Record, name: str) -> datetime:
    raise ValueError(f"{row.get('id', '?')}.{name} is not a unix time")
