"""What NetSuite would be sent for a write, read back into canonical terms (canonical/shadow.py): the payload is
built by the same mapping the writes use, and never sent. Shadow mode compares it with another ERP's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from canonical import DEFAULT_VENDORS, CreditNote, Customer, Invoice, LegalEntity, Payment
from canonical.shadow import PlannedKind, PlannedLine, PlannedRecord
from connectors.netsuite import mapping

PLANNED = "planned"  # stands for the internal ids a real write would have looked up
_ITEMS = {item_id: code for code, item_id in mapping.ITEM_IDS.items()}
_CURRENCIES = {currency_id: code for code, currency_id in mapping.CURRENCY_IDS.items()}


def _lines(items: Sequence[Mapping[str, Any]]) -> list[PlannedLine]:
    lines = []
    for item in items:
        tax = item["item"]["id"] == mapping.TAX_ITEM_ID
        posting = "tax" if tax else "deferred" if "revRecStartDate" in item else "revenue"
        product = None if tax else _ITEMS.get(item["item"]["id"], item["item"]["id"])
        lines.append(
            PlannedLine(product=product, quantity=Decimal(item["quantity"]), amount=item["amount"], posting=posting)
        )
    return lines


def _document(kind: PlannedKind, key: str, entity: str, body: Mapping[str, Any]) -> PlannedRecord:
    lines = _lines(body["item"]["items"])
    return PlannedRecord(
        kind=kind,
        key=key,
        legal_entity=entity,
        currency=_CURRENCIES[body["currency"]["id"]],
        day=body["tranDate"],
        lines=lines,
        total=sum((line.amount for line in lines), Decimal(0)),
    )


def plan_customer(customer: Customer, entity: LegalEntity, currency: str) -> PlannedRecord:
    body = mapping.customer_body(customer, entity, currency)
    tax_ids = [line["taxRegistrationNumber"] for line in body["taxRegistration"]["items"]]
    country = body["addressBook"]["items"][0]["addressBookAddress"]["country"]["id"]
    return PlannedRecord(
        kind=PlannedKind.CUSTOMER,
        key=f"{customer.golden_id}-{entity.code}",
        legal_entity=entity.code,
        currency=_CURRENCIES[body["currency"]["id"]],
        customer=f"{body['companyName']} | {''.join(tax_ids)} | {country}",
    )


def plan_invoice(invoice: Invoice, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    key = mapping.billing_id(invoice.external_refs, "invoice", billing_system)
    body = mapping.invoice_body(invoice, PLANNED, billing_system)
    return _document(PlannedKind.INVOICE, key, invoice.legal_entity, body)


def plan_credit_memo(invoice: Invoice, on: date, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    key = "cm-" + mapping.billing_id(invoice.external_refs, "invoice", billing_system)
    body = mapping.credit_memo_body(invoice, PLANNED, PLANNED, on, billing_system)
    return _document(PlannedKind.CREDIT_MEMO, key, invoice.legal_entity, body)


def plan_credit_note(credit: CreditNote, on: date, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    key = mapping.billing_id(credit.external_refs, "credit_note", billing_system)
    body = mapping.credit_note_body(credit, PLANNED, PLANNED, on, billing_system)
    return _document(PlannedKind.CREDIT_NOTE, key, credit.legal_entity, body)


def plan_payment(payment: Payment, legal_entity: str, billing_system: str = DEFAULT_VENDORS.billing) -> PlannedRecord:
    body = mapping.payment_body(payment, PLANNED, PLANNED, billing_system)
    return PlannedRecord(
        kind=PlannedKind.PAYMENT,
        key=mapping.billing_id(payment.external_refs, "payment", billing_system),
        legal_entity=legal_entity,
        currency=_CURRENCIES[body["currency"]["id"]],
        total=body["payment"],
    )
