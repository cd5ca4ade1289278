"""Canonical objects to Xero bodies, and Xero records back to the reconciler's canonical records.

Account codes are our GL numbers (a Xero organisation names its chart by code). Tax goes on a document as one line
on the tax liability account with tax type NONE, like NetSuite's tax item: the amount our tax engine quoted is booked
as is, and Xero computes no tax of its own on top (`LineAmountTypes` NoTax).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from canonical import (
    Address,
    CreditNote,
    Customer,
    Invoice,
    InvoiceAdjustment,
    JournalEntry,
    LegalEntity,
    Money,
    Payment,
    PaymentStatus,
    ids,
)
from canonical.records import CustomerFields, ErpCreditMemo, ErpCustomer, ErpInvoice, ErpPayment
from canonical.refunds import CustomerRefund, ErpInvoiceRef, ErpRefund
from connectors.errors import PermanentError
from connectors.xero import wire
from connectors.xero.errors import SYSTEM

CASH_ACCOUNT = "1050"  # Undeposited Funds, with "enable payments to this account": where payments land
AR_ACCOUNT = "1100"  # Xero's Accounts Receivable system account: no manual journal may post to it
TAX_ACCOUNT = "2200"  # Sales tax payable
DEFERRED_REVENUE_ACCOUNT = "2400"  # lines billing gave a service period (docs/revenue.md, "Posting rules")
REVENUE_ACCOUNT = "4000"
NO_TAX = "NONE"
ADDRESS_TYPE = "POBOX"  # the address Xero prints on invoices

Record = dict[str, Any]


def billing_id(refs: dict[str, str], what: str, billing_system: str) -> str:
    """The billing system's id of an invoice, payment or credit note: its number or reference in Xero."""
    try:
        return refs[billing_system]
    except KeyError:
        raise PermanentError(SYSTEM, f"missing_{what}_id", f"{what} has no {billing_system} id") from None


def contact_body(customer: Customer, entity: LegalEntity, currency: str | None, name: str) -> wire.ContactBody:
    """The contact `{golden}-{entity}`; `currency` None on an update (Xero keeps a contact's default currency)."""
    assert customer.golden_id
    address: wire.Address = {
        "AddressType": ADDRESS_TYPE,
        "AddressLine1": customer.address.line1,
        "City": customer.address.city,
        "PostalCode": customer.address.postal_code,
        "Country": customer.address.country,
    }
    if customer.address.line2:
        address["AddressLine2"] = customer.address.line2
    if customer.address.region:
        address["Region"] = customer.address.region
    body: wire.ContactBody = {
        "Name": name,
        "ContactNumber": ids.erp_customer_id(customer.golden_id, entity.code),
        "TaxNumber": customer.tax_id or "",  # an empty one clears a tax id the CRM no longer has
        "Addresses": [address],
    }
    if currency:
        body["DefaultCurrency"] = currency
    if customer.email:
        body["EmailAddress"] = customer.email
    return body


def unique_name(legal_name: str, contact_number: str) -> str:
    """The name a contact gets when another contact of the organisation already has its legal name."""
    return f"{legal_name} ({contact_number})"


def _line(
    description: str, quantity: int, unit: Decimal, amount: Decimal, code: str | None, deferred: bool
) -> wire.LineItem:
    line: wire.LineItem = {
        "Description": description,
        "Quantity": Decimal(quantity),
        "UnitAmount": unit,
        "LineAmount": amount,
        "AccountCode": DEFERRED_REVENUE_ACCOUNT if deferred else REVENUE_ACCOUNT,
        "TaxType": NO_TAX,
    }
    if code:
        line["ItemCode"] = code
    return line


def _adjustment_line(adjustment: InvoiceAdjustment) -> wire.LineItem:
    """A proration or credited amount as billing computed it: quantity 1 at its (signed) amount, the quantity it
    is for and its period in the description (Xero lines hold no service dates)."""
    amount = adjustment.amount.to_decimal()
    description = (
        f"{adjustment.description} ({adjustment.quantity} x {adjustment.product_code}, "
        f"{adjustment.period_start.isoformat()} to {adjustment.period_end.isoformat()})"
    )
    return _line(description, 1, amount, amount, adjustment.product_code, deferred=True)


def _tax_line(tax: Money, description: str) -> wire.LineItem:
    amount = tax.to_decimal()
    return {
        "Description": description,
        "Quantity": Decimal(1),
        "UnitAmount": amount,
        "LineAmount": amount,
        "AccountCode": TAX_ACCOUNT,
        "TaxType": NO_TAX,
    }


def line_items(invoice: Invoice) -> list[wire.LineItem]:
    """The priced lines, the prorations (signed), then the tax line: the invoice's total exactly."""
    lines = [
        _line(
            line.description
            + (
                f" ({line.period_start.isoformat()} to {line.period_end.isoformat()})"
                if line.period_start and line.period_end
                else ""
            ),
            line.quantity,
            line.unit_amount.to_decimal(),
            line.amount.to_decimal(),
            line.product_code,
            deferred=line.period_start is not None,
        )
        for line in invoice.lines
    ]
    lines.extend(_adjustment_line(adjustment) for adjustment in invoice.adjustments)
    if invoice.tax.amount:
        lines.append(
            _tax_line(invoice.tax, f"Tax ({invoice.tax_document_code})" if invoice.tax_document_code else "Tax")
        )
    return lines


def invoice_body(invoice: Invoice, contact_id: str, billing_system: str) -> wire.InvoiceBody:
    number = billing_id(invoice.external_refs, "invoice", billing_system)
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": invoice.issue_date.isoformat(),
        "DueDate": invoice.due_date.isoformat(),
        "InvoiceNumber": number,
        "Reference": invoice.number or "",
        "CurrencyCode": invoice.currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": line_items(invoice),
    }


def reversal_body(invoice: Invoice, contact_id: str, number: str, on: date) -> wire.CreditNoteBody:
    """A credit note for all of the invoice's lines (tax included), dated `on`."""
    return {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "Date": on.isoformat(),
        "CreditNoteNumber": number,
        "Reference": f"Reversal of billing invoice {invoice.number or number[3:]}",
        "CurrencyCode": invoice.currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": line_items(invoice),
    }


def credit_note_body(credit: CreditNote, contact_id: str, number: str, on: date) -> wire.CreditNoteBody:
    lines = [_adjustment_line(line) for line in credit.lines]
    if credit.tax.amount:
        lines.append(_tax_line(credit.tax, f"Tax credited ({number})"))
    return {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "Date": on.isoformat(),
        "CreditNoteNumber": number,
        "Reference": f"On billing invoice {credit.invoice_id}: {credit.reason}"[:255],
        "CurrencyCode": credit.currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": lines,
    }


def payment_body(payment: Payment, invoice_id: str, reference: str, on: date) -> wire.PaymentBody:
    """The gross amount, applied to the invoice; the fee is a separate manual journal."""
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise PermanentError(SYSTEM, "payment_not_settled", f"payment is {payment.status.value}, not succeeded")
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": CASH_ACCOUNT},
        "Date": on.isoformat(),
        "Amount": payment.amount.to_decimal(),
        "Reference": reference,
    }


def refund_body(refund: CustomerRefund, on: date) -> wire.RefundBody:
    """The refund paid out of the credit note, from the account payments land in."""
    return {
        "CreditNote": {"CreditNoteID": refund.credit_memo_erp_id},
        "Account": {"Code": CASH_ACCOUNT},
        "Date": on.isoformat(),
        "Amount": refund.amount.to_decimal(),
        "Reference": refund.refund_id,
    }


def narration_key(external_id: str) -> str:
    """How a manual journal names its external id: Xero journals have no reference field, so the narration
    starts with it, and a lookup filters on `Narration.StartsWith(...)`."""
    return f"[{external_id}]"


def journal_body(entry: JournalEntry, on: date, base_currency: str) -> wire.ManualJournalBody:
    """The entry dated `on`; Xero books manual journals in the organisation's base currency only."""
    currencies = {side.currency for line in entry.lines for side in (line.debit, line.credit) if side is not None}
    if currencies != {base_currency}:
        raise PermanentError(
            SYSTEM, "currency_not_base", f"Xero journals are in {base_currency} only, got {sorted(currencies)}"
        )
    lines: list[wire.JournalLineBody] = []
    for line in entry.lines:
        side = line.debit or line.credit
        assert side is not None
        amount = side.to_decimal() if line.debit is not None else -side.to_decimal()
        wire_line: wire.JournalLineBody = {"LineAmount": amount, "AccountCode": line.account, "TaxType": NO_TAX}
        if line.memo:
            wire_line["Description"] = line.memo
        lines.append(wire_line)
    memo = entry.memo or "Journal"
    if on != entry.date:
        memo = f"{memo} [for {entry.date.isoformat()}; period locked, posted in the next open one]"
    return {
        "Narration": f"{narration_key(entry.external_id)} {memo}",
        "Date": on.isoformat(),
        "Status": "POSTED",
        "LineAmountTypes": "NoTax",
        "JournalLines": lines,
    }


# -- Xero records back, field by field: a record in another shape is a PermanentError naming the field ----------


def _bad(record: Record, field: str, problem: str) -> PermanentError:
    return PermanentError(SYSTEM, "bad_response", f"record: {field} {problem}"[:300])


def text(record: Record, field: str) -> str | None:
    value = record.get(field)
    if value is not None and not isinstance(value, str):
        raise _bad(record, field, "is not text")
    return value or None


def guid(record: Record, field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise _bad(record, field, "is not an id")
    return value


def ref(record: Record, field: str, key: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(record, field, "is not an object")
    return text(value, key)


def minor(record: Record, field: str, currency: str) -> int:
    value = record.get(field) or 0
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _bad(record, field, "is not a number")
    try:
        return Money.from_decimal(value, currency).amount
    except ValueError as exc:
        raise _bad(record, field, str(exc)) from exc


def currency(record: Record, within: str = "") -> str:
    """The record's CurrencyCode; `within` names the object holding it (`Invoice` of a payment) in the error."""
    code = record.get("CurrencyCode")
    if not isinstance(code, str) or len(code) != 3:
        raise _bad(record, f"{within}.CurrencyCode" if within else "CurrencyCode", "is not a currency code")
    return code


def erp_invoice(record: Record) -> ErpInvoice:
    code = currency(record)
    return ErpInvoice(
        internal_id=guid(record, "InvoiceID"),
        external_id=text(record, "InvoiceNumber"),
        reference=text(record, "Reference"),
        customer_id=ref(record, "Contact", "ContactID"),
        currency=code,
        total=minor(record, "Total", code),
        amount_remaining=minor(record, "AmountDue", code),
        status=text(record, "Status"),
        # Xero keeps no creation time: the last change is the closest it has.
        created_at=wire.parse_xero_datetime(record.get("UpdatedDateUTC")),
    )


def erp_payment(record: Record) -> ErpPayment:
    invoice = record.get("Invoice")
    if not isinstance(invoice, dict):
        raise _bad(record, "Invoice", "is not an object")
    code = currency(invoice, "Invoice")
    amount = minor(record, "Amount", code)
    return ErpPayment(
        internal_id=guid(record, "PaymentID"),
        external_id=text(record, "Reference"),
        currency=code,
        amount=amount,
        applied={guid(invoice, "InvoiceID"): amount} if record.get("Status") != "DELETED" else {},
        created_at=wire.parse_xero_datetime(record.get("UpdatedDateUTC")),
    )


def erp_refund(record: Record) -> ErpRefund:
    """A refund (a payment on a credit note) as the reconciler compares it."""
    note = record.get("CreditNote")
    if not isinstance(note, dict):
        raise _bad(record, "CreditNote", "is not an object")
    code = currency(note, "CreditNote")
    return ErpRefund(
        external_id=text(record, "Reference"),
        erp_id=guid(record, "PaymentID"),
        amount=Money(amount=minor(record, "Amount", code), currency=code),
        credit_memo_erp_ids=[guid(note, "CreditNoteID")],
    )


def erp_invoice_ref(record: Record) -> ErpInvoiceRef:
    contact = ref(record, "Contact", "ContactID")
    if contact is None:
        raise _bad(record, "Contact", "is missing")
    return ErpInvoiceRef(erp_id=guid(record, "InvoiceID"), customer_erp_id=contact, currency=currency(record))


def erp_credit_memo(record: Record) -> ErpCreditMemo:
    code = currency(record)
    allocations = record.get("Allocations") or []
    if not isinstance(allocations, list) or not all(isinstance(a, dict) for a in allocations):
        raise _bad(record, "Allocations", "is not a list of objects")
    invoices = [ref(allocation, "Invoice", "InvoiceID") for allocation in allocations]
    return ErpCreditMemo(
        internal_id=guid(record, "CreditNoteID"),
        external_id=text(record, "CreditNoteNumber"),
        created_from=next((invoice for invoice in invoices if invoice), None),
        currency=code,
        total=minor(record, "Total", code),
    )


def erp_customer(record: Record) -> ErpCustomer | None:
    """A contact c2c created (contact number `{golden}-{entity}`) with its master data; None for any other."""
    number = text(record, "ContactNumber") or ""
    parsed = ids.parse_erp_customer_id(number)
    if parsed is None:
        return None
    name = text(record, "Name")
    suffix = f" ({number})"
    if name and name.endswith(suffix):  # unique_name: the legal name is what was asked for
        name = name[: -len(suffix)]
    addresses = record.get("Addresses") or []
    if not isinstance(addresses, list):
        raise _bad(record, "Addresses", "is not a list")
    billing = [a for a in addresses if isinstance(a, dict) and a.get("AddressType") == ADDRESS_TYPE]
    return ErpCustomer(
        internal_id=guid(record, "ContactID"),
        external_id=number,
        golden_id=parsed[0],
        legal_entity=parsed[1],
        fields=CustomerFields(name=name, address=_address(billing[0]) if billing else None, tax_id=_tax_id(record)),
    )


def _tax_id(record: Record) -> str | None:
    value = record.get("TaxNumber")
    return value if isinstance(value, str) and value else None


def _address(raw: Record) -> Address | None:
    fields = [raw.get(k) for k in ("AddressLine1", "AddressLine2", "City", "Region", "PostalCode", "Country")]
    if not all(value is None or isinstance(value, str) for value in fields):
        return None
    line1, line2, city, region, postal, country = fields
    try:
        return Address(
            line1=line1 or "",
            line2=line2 or None,
            city=city or "",
            region=region or None,
            postal_code=postal or "",
            country=country or "",
        )
    except ValueError:
        return None
