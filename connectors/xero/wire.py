"""Xero Accounting API 2.0 shapes: request bodies, the collection envelope, dates, errors and the token answer."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NotRequired, TypedDict


class ContactRef(TypedDict):
    ContactID: str


class InvoiceRef(TypedDict):
    InvoiceID: str


class AccountRef(TypedDict):
    Code: str


class Address(TypedDict):
    AddressType: str  # POBOX is the billing address Xero prints on invoices
    AddressLine1: str
    AddressLine2: NotRequired[str]
    City: str
    Region: NotRequired[str]
    PostalCode: str
    Country: str


class ContactBody(TypedDict):
    Name: str
    ContactNumber: str  # "identify contacts in external systems": our `{golden}-{entity}`
    EmailAddress: NotRequired[str]
    TaxNumber: str
    DefaultCurrency: NotRequired[str]
    Addresses: list[Address]
    ContactID: NotRequired[str]


class LineItem(TypedDict):
    Description: str
    Quantity: Decimal
    UnitAmount: Decimal
    LineAmount: Decimal
    AccountCode: str
    TaxType: str
    ItemCode: NotRequired[str]


class InvoiceBody(TypedDict):
    Type: str  # ACCREC: a sales invoice
    Contact: ContactRef
    Date: str
    DueDate: str
    InvoiceNumber: str  # the billing invoice id: unique per organisation, Xero's lookup key
    Reference: str
    CurrencyCode: str
    Status: str
    LineAmountTypes: str
    LineItems: list[LineItem]


class CreditNoteBody(TypedDict):
    Type: str  # ACCRECCREDIT
    Contact: ContactRef
    Date: str
    CreditNoteNumber: str
    Reference: str
    CurrencyCode: str
    Status: str
    LineAmountTypes: str
    LineItems: list[LineItem]


class AllocationBody(TypedDict):
    Invoice: InvoiceRef
    Amount: Decimal
    Date: str


class PaymentBody(TypedDict):
    Invoice: InvoiceRef
    Account: AccountRef
    Date: str
    Amount: Decimal
    Reference: str  # the billing payment id: Xero's lookup key for payments


class CreditNoteRef(TypedDict):
    CreditNoteID: str


class RefundBody(TypedDict):
    """A payment out of a credit note's remaining credit: Xero's refund to the customer."""

    CreditNote: CreditNoteRef
    Account: AccountRef
    Date: str
    Amount: Decimal
    Reference: str  # billing's refund id: Xero's lookup key for the refund


class JournalLineBody(TypedDict):
    LineAmount: Decimal  # positive debits, negative credits
    AccountCode: str
    Description: NotRequired[str]
    TaxType: str


class ManualJournalBody(TypedDict):
    Narration: str
    Date: str
    Status: str
    LineAmountTypes: str
    JournalLines: list[JournalLineBody]


def error_code_and_message(body: Any) -> tuple[str | None, str | None]:
    """(Type, the validation messages or Message) of a Xero ApiException; (Title, Detail) of a 401/403 problem
    body; (error, error_description) of an identity (token) error."""
    if not isinstance(body, dict):
        return None, None
    kind = body.get("Type")
    if isinstance(kind, str) and kind:
        messages = [
            error["Message"]
            for element in body.get("Elements") or []
            if isinstance(element, dict)
            for error in element.get("ValidationErrors") or []
            if isinstance(error, dict) and isinstance(error.get("Message"), str)
        ]
        message = body.get("Message")
        text = "; ".join(messages) or (message if isinstance(message, str) else None)
        return kind, text
    if isinstance(body.get("error"), str):
        description = body.get("error_description")
        return body["error"], description if isinstance(description, str) else body["error"]
    title, detail = body.get("Title"), body.get("Detail")
    if isinstance(title, str) or isinstance(detail, str):
        return (title if isinstance(title, str) else None), (detail if isinstance(detail, str) else None)
    return None, None


# Xero's JSON dates: "/Date(1518652800000+0000)/" (milliseconds since the epoch, then the offset).
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_xero_datetime(value: Any) -> datetime | None:
    """A `/Date(ms+zzzz)/` or ISO 8601 value as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    match = _MS_DATE.match(value)
    if match:
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
        except OverflowError:
            return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_xero_date(value: Any) -> date | None:
    moment = parse_xero_datetime(value)
    return moment.date() if moment is not None else None


def records(body: Any, key: str) -> list[dict[str, Any]]:
    """The list under `key` of Xero's envelope (`{"Id", "Status": "OK", ..., "Invoices": [...]}`); ValueError
    naming the key when the answer is anything else."""
    if not isinstance(body, dict):
        raise ValueError(f"answer is not a JSON object with {key}")
    items = body.get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"answer's {key} is not a list of objects")
    return items


_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


def token_answer(body: Any) -> tuple[str, float]:
    """(access token, lifetime in seconds) of Xero identity's answer (30 minutes); ValueError naming the field."""
    if not isinstance(body, dict):
        raise ValueError("token answer is not a JSON object")
    token = body.get("access_token")
    if not isinstance(token, str) or not _TOKEN_TEXT.fullmatch(token):
        raise ValueError("token answer's access_token is missing or not printable ASCII")
    lifetime = body.get("expires_in", 1800)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | Decimal) or not 0 < lifetime <= 86_400:
        raise ValueError(f"token answer's expires_in is not a number of seconds up to a day: {lifetime!r}"[:200])
    return token, float(lifetime)
