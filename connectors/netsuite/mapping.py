"""Canonical objects to NetSuite record bodies, with the account's internal ids for our reference data.

Tax goes on the invoice as one line on the TAX service item (quantity 1, rate = the tax amount): the
amount our tax engine quoted is booked as is, with no NetSuite tax code to recompute it.
"""

from __future__ import annotations

from datetime import date, timedelta

from canonical import (
    DEFAULT_VENDORS,
    CreditNote,
    Customer,
    Invoice,
    InvoiceAdjustment,
    JournalEntry,
    LegalEntity,
    Money,
    Payment,
    PaymentStatus,
)
from connectors.errors import PermanentError
from connectors.netsuite.errors import SYSTEM
from connectors.netsuite.wire import (
    AddressBookAddress,
    AddressBookLine,
    ApplyLine,
    CreditMemoBody,
    CustomerBody,
    CustomerPaymentBody,
    InvoiceBody,
    ItemLine,
    JournalEntryBody,
    JournalLineBody,
    Ref,
    TaxRegistrationLine,
)

SUBSIDIARY_IDS: dict[str, str] = {"US01": "1", "DE01": "2"}
CURRENCY_IDS: dict[str, str] = {"USD": "1", "EUR": "4", "JPY": "6"}
ITEM_IDS: dict[str, str] = {"PLAT-SEAT": "10", "ANALYTICS": "11", "SUPPORT-PREM": "12", "API-CALLS": "13"}
TAX_ITEM_ID = "20"

# Chart of accounts: GL account number (what canonical journal lines carry) -> NetSuite internal id.
CASH_ACCOUNT = "1050"  # Undeposited Funds: where customer payments land
AR_ACCOUNT = "1100"
CLEARING_ACCOUNT = "1190"
ALLOWANCE_ACCOUNT = "1110"  # Allowance for Doubtful Accounts (contra receivable)
MERCHANT_FEES_ACCOUNT = "6150"
BAD_DEBT_ACCOUNT = "6200"
DEFERRED_REVENUE_ACCOUNT = "2400"  # the items' deferred revenue account (lines with rev rec dates post here)
REVENUE_ACCOUNT = "4000"  # the items' income account
ACCOUNT_IDS: dict[str, str] = {
    "1000": "1",
    CASH_ACCOUNT: "2",
    AR_ACCOUNT: "6",
    CLEARING_ACCOUNT: "7",
    ALLOWANCE_ACCOUNT: "8",
    "2200": "25",
    DEFERRED_REVENUE_ACCOUNT: "30",
    REVENUE_ACCOUNT: "54",
    MERCHANT_FEES_ACCOUNT: "58",
    BAD_DEBT_ACCOUNT: "59",
}
# Sublists an upsert sends whole: without `replace`, NetSuite adds our lines to the customer's old ones.
CUSTOMER_SUBLISTS = ("addressBook", "taxRegistration")


def _lookup(table: dict[str, str], key: str, what: str) -> Ref:
    try:
        return {"id": table[key]}
    except KeyError:
        raise PermanentError(SYSTEM, f"unmapped_{what}", f"no NetSuite {what} for {key!r}") from None


def subsidiary_ref(legal_entity: str) -> Ref:
    return _lookup(SUBSIDIARY_IDS, legal_entity, "subsidiary")


def currency_ref(currency: str) -> Ref:
    return _lookup(CURRENCY_IDS, currency, "currency")


def billing_id(refs: dict[str, str], what: str, billing_system: str) -> str:
    """The billing system's id of an invoice or payment: the external id it gets in NetSuite."""
    try:
        return refs[billing_system]
    except KeyError:
        raise PermanentError(SYSTEM, f"missing_{what}_id", f"{what} has no {billing_system} id") from None


def customer_body(customer: Customer, entity: LegalEntity, currency: str) -> CustomerBody:
    address: AddressBookAddress = {
        "addr1": customer.address.line1,
        "city": customer.address.city,
        "zip": customer.address.postal_code,
        "country": {"id": customer.address.country},
    }
    if customer.address.line2:
        address["addr2"] = customer.address.line2
    if customer.address.region:
        address["state"] = customer.address.region
    line: AddressBookLine = {"defaultBilling": True, "defaultShipping": True, "addressBookAddress": address}
    # An empty list clears a tax id the CRM no longer has (the sublist is replaced, see CUSTOMER_SUBLISTS).
    registrations: list[TaxRegistrationLine] = []
    if customer.tax_id:
        registrations.append(
            {"nexusCountry": {"id": customer.address.country}, "taxRegistrationNumber": customer.tax_id}
        )
    body: CustomerBody = {
        "companyName": customer.legal_name,
        "subsidiary": subsidiary_ref(entity.code),
        "currency": currency_ref(currency),
        "addressBook": {"items": [line]},
        "taxRegistration": {"items": registrations},
    }
    if customer.email:
        body["email"] = customer.email
    return body


def _deferred(line: ItemLine, start: date | None, end: date | None) -> ItemLine:
    """The line with its service period as rev rec dates, so it posts to deferred revenue (docs/revenue.md);
    `end` is billing's (exclusive), NetSuite's end date is the last day served."""
    if start is not None and end is not None:
        line["revRecStartDate"] = start.isoformat()
        line["revRecEndDate"] = max(start, end - timedelta(days=1)).isoformat()
    return line


def service_end(rev_rec_end: date) -> date:
    """Billing's (exclusive) period end of a line whose NetSuite rev rec end date (inclusive) is `rev_rec_end`."""
    return rev_rec_end + timedelta(days=1)


def _item_lines(invoice: Invoice) -> list[ItemLine]:
    """The priced lines, then the prorations (signed), then the tax line: the invoice's total exactly."""
    lines: list[ItemLine] = [
        _deferred(
            {
                "item": _lookup(ITEM_IDS, line.product_code, "item"),
                "quantity": line.quantity,
                "rate": line.unit_amount.to_decimal(),
                "amount": line.amount.to_decimal(),
                "description": line.description,
            },
            line.period_start,
            line.period_end,
        )
        for line in invoice.lines
    ]
    lines.extend(_adjustment_line(adjustment) for adjustment in invoice.adjustments)
    if invoice.tax.amount:
        lines.append(
            _tax_line(invoice.tax, f"Tax ({invoice.tax_document_code})" if invoice.tax_document_code else "Tax")
        )
    return lines


def _adjustment_line(adjustment: InvoiceAdjustment) -> ItemLine:
    """A proration or credited amount as billing computed it: quantity 1 at rate = amount (signed).

    Not re-priced: its amount is rarely quantity x a whole rate, so the quantity it is for goes into the
    description with its period."""
    amount = adjustment.amount.to_decimal()
    description = (
        f"{adjustment.description} ({adjustment.quantity} x {adjustment.product_code}, "
        f"{adjustment.period_start.isoformat()} to {adjustment.period_end.isoformat()})"
    )
    line: ItemLine = {
        "item": _lookup(ITEM_IDS, adjustment.product_code, "item"),
        "quantity": 1,
        "rate": amount,
        "amount": amount,
        "description": description,
    }
    return _deferred(line, adjustment.period_start, adjustment.period_end)


def _tax_line(tax: Money, description: str) -> ItemLine:
    amount = tax.to_decimal()
    return {"item": {"id": TAX_ITEM_ID}, "quantity": 1, "rate": amount, "amount": amount, "description": description}


def invoice_body(invoice: Invoice, customer_erp_id: str, billing_system: str = DEFAULT_VENDORS.billing) -> InvoiceBody:
    invoice_id = billing_id(invoice.external_refs, "invoice", billing_system)
    body: InvoiceBody = {
        "entity": {"id": customer_erp_id},
        "subsidiary": subsidiary_ref(invoice.legal_entity),
        "currency": currency_ref(invoice.currency),
        "tranDate": invoice.issue_date.isoformat(),
        "dueDate": invoice.due_date.isoformat(),
        "memo": f"Billing invoice {invoice.number or invoice_id}",
        "item": {"items": _item_lines(invoice)},
    }
    if invoice.number:
        body["otherRefNum"] = invoice.number
    return body


def credit_memo_body(
    invoice: Invoice,
    invoice_erp_id: str,
    customer_erp_id: str,
    tran_date: date,
    billing_system: str = DEFAULT_VENDORS.billing,
) -> CreditMemoBody:
    """A full reversal dated `tran_date`: the invoice's lines (tax included), created from and applied to it."""
    invoice_id = billing_id(invoice.external_refs, "invoice", billing_system)
    return {
        "entity": {"id": customer_erp_id},
        "subsidiary": subsidiary_ref(invoice.legal_entity),
        "currency": currency_ref(invoice.currency),
        "createdFrom": {"id": invoice_erp_id},
        "tranDate": tran_date.isoformat(),
        "memo": f"Reversal of billing invoice {invoice.number or invoice_id}",
        "item": {"items": _item_lines(invoice)},
    }


def credit_note_body(
    credit: CreditNote,
    invoice_erp_id: str,
    customer_erp_id: str,
    tran_date: date,
    billing_system: str = DEFAULT_VENDORS.billing,
) -> CreditMemoBody:
    """Billing's credit note dated `tran_date`: its lines and its tax line, created from (and so applied to) the
    ERP invoice."""
    credit_id = billing_id(credit.external_refs, "credit_note", billing_system)
    lines = [_adjustment_line(line) for line in credit.lines]
    if credit.tax.amount:
        lines.append(_tax_line(credit.tax, f"Tax credited ({credit_id})"))
    return {
        "entity": {"id": customer_erp_id},
        "subsidiary": subsidiary_ref(credit.legal_entity),
        "currency": currency_ref(credit.currency),
        "createdFrom": {"id": invoice_erp_id},
        "tranDate": tran_date.isoformat(),
        "memo": f"Credit note {credit_id} on billing invoice {credit.invoice_id}: {credit.reason}",
        "item": {"items": lines},
    }


def payment_body(
    payment: Payment, customer_erp_id: str, invoice_erp_id: str, billing_system: str = DEFAULT_VENDORS.billing
) -> CustomerPaymentBody:
    """The gross amount, applied in full to the invoice; the fee is a separate journal entry."""
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise PermanentError(SYSTEM, "payment_not_settled", f"payment is {payment.status.value}, not succeeded")
    amount = payment.amount.to_decimal()
    apply: ApplyLine = {"doc": {"id": invoice_erp_id}, "apply": True, "amount": amount}
    payment_id = billing_id(payment.external_refs, "payment", billing_system)
    return {
        "customer": {"id": customer_erp_id},
        "currency": currency_ref(payment.amount.currency),
        "payment": amount,
        "memo": f"Payment {payment_id} for invoice {payment.invoice_id}",
        "apply": {"items": [apply]},
    }


def journal_entry_body(entry: JournalEntry, tran_date: date) -> JournalEntryBody:
    """The entry's lines dated `tran_date` (its own date, or a later one when that period is closed)."""
    currencies = {side.currency for line in entry.lines for side in (line.debit, line.credit) if side is not None}
    if len(currencies) != 1:
        raise PermanentError(SYSTEM, "multi_currency_journal", f"one currency per journal entry, got {currencies}")
    lines: list[JournalLineBody] = []
    for line in entry.lines:
        wire: JournalLineBody = {"account": _lookup(ACCOUNT_IDS, line.account, "account")}
        if line.debit is not None:
            wire["debit"] = line.debit.to_decimal()
        if line.credit is not None:
            wire["credit"] = line.credit.to_decimal()
        if line.memo:
            wire["memo"] = line.memo
        lines.append(wire)
    body: JournalEntryBody = {
        "subsidiary": subsidiary_ref(entry.legal_entity),
        "currency": currency_ref(currencies.pop()),
        "tranDate": tran_date.isoformat(),
        "line": {"items": lines},
    }
    memo = entry.memo
    if tran_date != entry.date:
        # The note a reader of the books needs: the entry belongs to an earlier, closed period.
        memo = f"{memo or 'Journal'} [for {entry.date.isoformat()}; period closed, posted in the next open one]"
    if memo:
        body["memo"] = memo
    return body
