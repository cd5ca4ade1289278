"""What Xero would be sent for a write, read back into canonical terms (canonical/shadow.py): the payload is built
by the same mapping the writes use, and never sent. Shadow mode compares it with another ERP's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from canonical import DEFAULT_VENDORS, CreditNote, Customer, Invoice, LegalEntity, Payment
from canonical.shadow import PlannedKind, PlannedLine, PlannedRecord
from connectors.xero import mapping

PLANNED = "planned"  # stands for the contact and invoice ids a real write would have looked up
_POSTINGS = {mapping.TAX_ACCOUNT: "tax", mapping.DEFERRED_REVENUE_ACCOUNT: "deferred"}


def _lines(items: Sequence[Mapping[str, Any]]) -> list[PlannedLine]:
    return [
        PlannedLine(
            product=item.get("ItemCode"),
            quantity=Decimal(item["Quantity"]),
            amount=item["LineAmount"],
            posting=_POSTINGS.get(item["AccountCode"], "revenue"),
        )
        for item in items
    ]


def _document(kind: PlannedKind, key: str, entity: str, body: Mapping[str, Any]) -> PlannedRecord:
    lines = _lines(body["LineItems"])
    return PlannedRecord(
        kind=kind,
        key=key,
        legal_entity=entity,
        currency=body["CurrencyCode"],
        day=body["Date"],
        lines=lines,
        total=sum((line.amount for line in lines), Decimal(0)),
    )


def plan_customer(customer: Customer, entity: LegalEntity, currency: str) -> PlannedRecord:
    body = mapping.contact_body(customer, entity, currency, customer.legal_name)
    return PlannedRecord(
        kind=PlannedKind.CUSTOMER,
        key=body["ContactNumber"],
        legal_entity=entity.code,
        currency=body.get("DefaultCurrency"),
        customer=f"{body['Name']} | {body['TaxNumber']} | {body['Addresses'][0]['Country']}",
    )


def plan_invoice(invoice: Invoice, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    body = mapping.invoice_body(invoice, PLANNED, billing_system)
    return _document(PlannedKind.INVOICE, body["InvoiceNumber"], invoice.legal_entity, body)


def plan_credit_memo(invoice: Invoice, on: date, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    number = "cm-" + mapping.billing_id(invoice.external_refs, "invoice", billing_system)
    body = mapping.reversal_body(invoice, PLANNED, number, on)
    return _document(PlannedKind.CREDIT_MEMO, number, invoice.legal_entity, body)


def plan_credit_note(credit: CreditNote, on: date, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    number = mapping.billing_id(credit.external_refs, "credit_note", billing_system)
    body = mapping.credit_note_body(credit, PLANNED, number, on)
    return _document(PlannedKind.CREDIT_NOTE, number, credit.legal_entity, body)


def plan_payment(payment: Payment, legal_entity: str, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    reference = mapping.billing_id(payment.external_refs, "payment", billing_system)
    on = payment.settled_at.date() if payment.settled_at else datetime.now(UTC).date()
    body = mapping.payment_body(payment, PLANNED, reference, on)
    # Xero takes the payment's currency from its invoice: the payload carries none, so it is not compared.
    return PlannedRecord(kind=PlannedKind.PAYMENT, key=reference, legal_entity=legal_entity, total=body["Amount"])
