"""One Xero organisation per tenant: its chart, items, contacts and documents, and the rules Xero applies to them.

A refused document raises `Refused` with Xero's validation messages; the app answers it as an ApiException
(`ValidationException`, the record under `Elements` with its `ValidationErrors`) and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.xero.query import ms_date, parse_date

Record = dict[str, Any]
TWO = Decimal("0.01")

# The organisations the sandbox starts with: the UK entity's books (a fixed GUID, so config can name it).
DEFAULT_TENANTS: dict[str, Record] = {
    "4a3c3f0e-5a0b-4c1e-9b1f-0000000000a1": {"name": "c2c Software Ltd", "base_currency": "GBP"},
}
CURRENCIES = ("GBP", "EUR", "USD")
# Code -> (name, type, system account, payments enabled). The chart c2c books to (canonical GL numbers).
ACCOUNTS: dict[str, tuple[str, str, str | None, bool]] = {
    "1000": ("Business Bank Account", "BANK", None, True),
    "1050": ("Undeposited Funds", "CURRENT", None, True),
    "1100": ("Accounts Receivable", "CURRENT", "DEBTORS", False),
    "1110": ("Allowance for Doubtful Accounts", "CURRENT", None, False),
    "2200": ("Sales Tax Payable", "CURRLIAB", None, False),
    "2400": ("Deferred Revenue", "CURRLIAB", None, False),
    "4000": ("Subscription Revenue", "REVENUE", None, False),
    "6150": ("Merchant Fees", "EXPENSE", None, False),
    "6200": ("Bad Debt Expense", "EXPENSE", None, False),
}
# Xero's accounts have GUIDs: a fixed one per code, so a record names its account both ways.
ACCOUNT_IDS = {code: str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-sandbox-account:{code}")) for code in ACCOUNTS}
ITEMS = {
    "PLAT-SEAT": "Platform seat",
    "ANALYTICS": "Analytics add-on",
    "SUPPORT-PREM": "Premium support",
    "API-CALLS": "API calls",
}
TAX_TYPES = frozenset({"NONE", "OUTPUT2", "ZERORATEDOUTPUT", "EXEMPTOUTPUT"})
LINE_AMOUNT_TYPES = frozenset({"NoTax", "Exclusive", "Inclusive"})


class Refused(Exception):
    """A document Xero refuses: its validation messages, and the record as sent (Xero echoes it)."""

    def __init__(self, record: Record, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.record = record
        self.messages = list(messages)


def now() -> datetime:
    return datetime.now(UTC)


def money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError(f"{value!r} is not a number")
    return Decimal(value)


@dataclass
class Organisation:
    tenant_id: str
    name: str
    base_currency: str
    lock_date: date | None = None
    contacts: dict[str, Record] = field(default_factory=dict)
    invoices: dict[str, Record] = field(default_factory=dict)
    credit_notes: dict[str, Record] = field(default_factory=dict)
    payments: dict[str, Record] = field(default_factory=dict)
    journals: dict[str, Record] = field(default_factory=dict)

    # -- contacts ------------------------------------------------------------------------------------------

    def save_contact(self, sent: Record, *, update_allowed: bool) -> Record:
        contact_id = sent.get("ContactID")
        existing = self.contacts.get(contact_id) if isinstance(contact_id, str) else None
        if contact_id and (existing is None or not update_allowed):
            raise Refused(sent, f"Contact with ContactID {contact_id} could not be found")
        name = sent.get("Name", existing.get("Name") if existing else None)
        if not isinstance(name, str) or not name.strip():
            raise Refused(sent, "The contact name must be supplied")
        for other in self.contacts.values():
            if other is not existing and other["Name"].lower() == name.lower() and other["ContactStatus"] == "ACTIVE":
                raise Refused(
                    sent,
                    f"The contact name {name} is already assigned to another contact. The contact name must be "
                    "unique across all active contacts.",
                )
        currency = sent.get("DefaultCurrency")
        if currency is not None and currency not in CURRENCIES:
            raise Refused(sent, f"The currency code {currency} is not a subscribed currency")
        record = existing if existing is not None else {"ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE"}
        for key in ("Name", "ContactNumber", "EmailAddress", "TaxNumber", "DefaultCurrency", "Addresses"):
            if key in sent:
                record[key] = sent[key]
        record["UpdatedDateUTC"] = ms_date(now())
        self.contacts[record["ContactID"]] = record
        return record

    # -- invoices and credit notes ---------------------------------------------------------------------------

    def _contact_of(self, sent: Record) -> Record:
        contact = sent.get("Contact")
        contact_id = contact.get("ContactID") if isinstance(contact, dict) else None
        if not isinstance(contact_id, str) or contact_id not in self.contacts:
            raise Refused(sent, "A Contact must be specified for this type of transaction")
        found = self.contacts[contact_id]
        return {"ContactID": found["ContactID"], "Name": found["Name"]}

    def _open(self, sent: Record, field_name: str = "Date") -> date:
        day = parse_date(sent.get(field_name))
        if day is None:
            raise Refused(sent, f"{field_name} is not a valid date")
        if self.lock_date is not None and day <= self.lock_date:
            raise Refused(
                sent, f"The document date cannot be on or before the period lock date ({self.lock_date.isoformat()})"
            )
        return day

    def _lines(self, sent: Record) -> tuple[list[Record], Decimal]:
        lines = sent.get("LineItems")
        if not isinstance(lines, list) or not lines:
            raise Refused(sent, "At least one line item must be specified")
        if sent.get("LineAmountTypes", "Exclusive") not in LINE_AMOUNT_TYPES:
            raise Refused(sent, f"LineAmountTypes {sent.get('LineAmountTypes')!r} is not valid")
        out, total = [], Decimal(0)
        for line in lines:
            if not isinstance(line, dict):
                raise Refused(sent, "A line item is not an object")
            code, item, tax = line.get("AccountCode"), line.get("ItemCode"), line.get("TaxType", "NONE")
            if code not in ACCOUNTS:
                raise Refused(sent, f"Account code '{code}' is not a valid code for this document.")
            if item is not None and item not in ITEMS:
                raise Refused(sent, f"Item code '{item}' is not valid")
            if tax not in TAX_TYPES:
                raise Refused(sent, f"The TaxType code '{tax}' does not exist or cannot be used for this type of doc.")
            try:
                quantity, unit = money(line.get("Quantity", 1)), money(line.get("UnitAmount", 0))
            except ValueError as exc:
                raise Refused(sent, str(exc)) from None
            amount = (quantity * unit).quantize(TWO, rounding=ROUND_HALF_UP)
            if "LineAmount" in line and money(line["LineAmount"]) != amount:
                raise Refused(
                    sent, f"The line total {line['LineAmount']} does not match the expected line total {amount}"
                )
            record = {**line, "LineItemID": str(uuid.uuid4()), "TaxType": tax, "TaxAmount": Decimal("0.00")}
            record["LineAmount"] = amount
            out.append(record)
            total += amount
        return out, total

    def _document(self, sent: Record, kinds: tuple[str, ...], number_field: str, book: dict[str, Record]) -> Record:
        kind = sent.get("Type")
        if kind not in kinds:
            raise Refused(sent, f"Type must be one of {', '.join(kinds)}")
        contact = self._contact_of(sent)
        day = self._open(sent)
        currency = sent.get("CurrencyCode", self.base_currency)
        if currency not in CURRENCIES:
            raise Refused(sent, f"The currency code {currency} is not a subscribed currency")
        lines, total = self._lines(sent)
        if total < 0:
            raise Refused(sent, "The document total cannot be negative")
        number = sent.get(number_field)
        if number and any(
            other.get(number_field) == number and other["Type"] == kind and other["Status"] not in ("DELETED", "VOIDED")
            for other in book.values()
        ):
            raise Refused(sent, f"{number_field.replace('Number', ' #')} must be unique.")
        status = sent.get("Status", "DRAFT")
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            raise Refused(sent, f"Status {status!r} cannot be set on a new document")
        return {
            "Type": kind,
            "Contact": contact,
            "Date": ms_date(day),
            "DateString": f"{day.isoformat()}T00:00:00",
            number_field: number or f"{'INV' if number_field == 'InvoiceNumber' else 'CN'}-{len(book) + 1:04d}",
            "Reference": sent.get("Reference", ""),
            "CurrencyCode": currency,
            "CurrencyRate": Decimal("1.0000000000"),
            "Status": status,
            "LineAmountTypes": sent.get("LineAmountTypes", "Exclusive"),
            "LineItems": lines,
            "SubTotal": total,
            "TotalTax": Decimal("0.00"),
            "Total": total,
            "UpdatedDateUTC": ms_date(now()),
        }

    def create_invoice(self, sent: Record) -> Record:
        record = self._document(sent, ("ACCREC", "ACCPAY"), "InvoiceNumber", self.invoices)
        due = parse_date(sent.get("DueDate"))
        if due is None and record["Status"] == "AUTHORISED":
            raise Refused(sent, "Due Date is required for an approved invoice")
        record["InvoiceID"] = str(uuid.uuid4())
        if due:
            record["DueDate"], record["DueDateString"] = ms_date(due), f"{due.isoformat()}T00:00:00"
        record.update(AmountDue=record["Total"], AmountPaid=Decimal("0.00"), AmountCredited=Decimal("0.00"))
        record.update(Payments=[], CreditNotes=[])
        self.invoices[record["InvoiceID"]] = record
        return record

    def create_credit_note(self, sent: Record) -> Record:
        record = self._document(sent, ("ACCRECCREDIT", "ACCPAYCREDIT"), "CreditNoteNumber", self.credit_notes)
        record.update(CreditNoteID=str(uuid.uuid4()), RemainingCredit=record["Total"], Allocations=[])
        self.credit_notes[record["CreditNoteID"]] = record
        return record

    def allocate(self, credit_note_id: str, sent: Record) -> Record:
        note = self.credit_notes[credit_note_id]
        invoice_ref = sent.get("Invoice")
        invoice = self.invoices.get(invoice_ref.get("InvoiceID", "")) if isinstance(invoice_ref, dict) else None
        if invoice is None:
            raise Refused(sent, "Invoice could not be found")
        amount, day = _amount(sent), self._open(sent)
        if note["Status"] != "AUTHORISED" or invoice["Status"] != "AUTHORISED":
            raise Refused(sent, "Only an approved credit note can be allocated to an approved invoice")
        if note["CurrencyCode"] != invoice["CurrencyCode"] or note["Contact"] != invoice["Contact"]:
            raise Refused(sent, "The credit note and the invoice must have the same contact and currency")
        if amount <= 0 or amount > note["RemainingCredit"] or amount > invoice["AmountDue"]:
            raise Refused(sent, "The amount being allocated exceeds the remaining credit or the amount due")
        allocation = {
            "AllocationID": str(uuid.uuid4()),
            "Amount": amount,
            "Date": ms_date(day),
            "Invoice": {"InvoiceID": invoice["InvoiceID"], "InvoiceNumber": invoice["InvoiceNumber"]},
            "CreditNote": {"CreditNoteID": note["CreditNoteID"], "CreditNoteNumber": note["CreditNoteNumber"]},
        }
        note["Allocations"].append(allocation)
        note["RemainingCredit"] -= amount
        invoice["AmountCredited"] += amount
        invoice["CreditNotes"].append({"CreditNoteID": note["CreditNoteID"], "AppliedAmount": amount})
        self._settle(invoice)
        if note["RemainingCredit"] == 0:
            note["Status"] = "PAID"
        note["UpdatedDateUTC"] = ms_date(now())
        return allocation

    def _settle(self, invoice: Record) -> None:
        invoice["AmountDue"] = invoice["Total"] - invoice["AmountPaid"] - invoice["AmountCredited"]
        if invoice["AmountDue"] == 0:
            invoice["Status"], invoice["FullyPaidOnDate"] = "PAID", ms_date(now())
        invoice["UpdatedDateUTC"] = ms_date(now())

    # -- payments ------------------------------------------------------------------------------------------

    def _paid_from(self, sent: Record) -> tuple[str, Decimal, date]:
        """(account code, amount, date) of a payment or refund: an account taking payments, in an open period."""
        account_ref = sent.get("Account")
        code = account_ref.get("Code") if isinstance(account_ref, dict) else None
        if not isinstance(code, str) or code not in ACCOUNTS or not ACCOUNTS[code][3]:
            raise Refused(sent, "Account must be valid and have payments enabled")
        return code, _amount(sent), self._open(sent)

    def create_payment(self, sent: Record) -> Record:
        if isinstance(sent.get("CreditNote"), dict):
            return self._refund(sent)
        invoice_ref = sent.get("Invoice")
        invoice = self.invoices.get(invoice_ref.get("InvoiceID", "")) if isinstance(invoice_ref, dict) else None
        if invoice is None:
            raise Refused(sent, "Invoice could not be found")
        code, amount, day = self._paid_from(sent)
        if invoice["Status"] != "AUTHORISED":
            raise Refused(sent, "Payment can only be made against an approved invoice")
        if amount <= 0 or amount > invoice["AmountDue"]:
            raise Refused(sent, "Payment amount exceeds the amount outstanding on this document")
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Date": ms_date(day),
            "Amount": amount,
            "Reference": sent.get("Reference", ""),
            "Status": "AUTHORISED",
            "PaymentType": "ACCRECPAYMENT" if invoice["Type"] == "ACCREC" else "ACCPAYPAYMENT",
            "Account": {"AccountID": ACCOUNT_IDS[code], "Code": code},
            "Invoice": {
                "InvoiceID": invoice["InvoiceID"],
                "InvoiceNumber": invoice["InvoiceNumber"],
                "Type": invoice["Type"],
                "CurrencyCode": invoice["CurrencyCode"],
                "Contact": invoice["Contact"],
            },
            "UpdatedDateUTC": ms_date(now()),
        }
        invoice["AmountPaid"] += amount
        invoice["Payments"].append({"PaymentID": payment["PaymentID"], "Amount": amount})
        self._settle(invoice)
        self.payments[payment["PaymentID"]] = payment
        return payment

    def _refund(self, sent: Record) -> Record:
        """Money paid back out of a credit note's remaining credit (Xero: a payment on the credit note,
        PaymentType ARCREDITPAYMENT)."""
        note = self.credit_notes.get(sent["CreditNote"].get("CreditNoteID", ""))
        if note is None:
            raise Refused(sent, "Credit note could not be found")
        code, amount, day = self._paid_from(sent)
        if note["Status"] != "AUTHORISED":
            raise Refused(sent, "Payment can only be made against an approved credit note")
        if amount <= 0 or amount > note["RemainingCredit"]:
            raise Refused(sent, "Payment amount exceeds the amount outstanding on this document")
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Date": ms_date(day),
            "Amount": amount,
            "Reference": sent.get("Reference", ""),
            "Status": "AUTHORISED",
            "PaymentType": "ARCREDITPAYMENT" if note["Type"] == "ACCRECCREDIT" else "APCREDITPAYMENT",
            "Account": {"AccountID": ACCOUNT_IDS[code], "Code": code},
            "CreditNote": {
                "CreditNoteID": note["CreditNoteID"],
                "CreditNoteNumber": note["CreditNoteNumber"],
                "CurrencyCode": note["CurrencyCode"],
                "Contact": note["Contact"],
            },
            "UpdatedDateUTC": ms_date(now()),
        }
        note["RemainingCredit"] -= amount
        note.setdefault("Payments", []).append({"PaymentID": payment["PaymentID"], "Amount": amount})
        if note["RemainingCredit"] == 0:
            note["Status"] = "PAID"
        note["UpdatedDateUTC"] = ms_date(now())
        self.payments[payment["PaymentID"]] = payment
        return payment


def _amount(sent: Record) -> Decimal:
    try:
        return money(sent.get("Amount"))
    except ValueError:
        raise Refused(sent, "Amount must be a number") from None
