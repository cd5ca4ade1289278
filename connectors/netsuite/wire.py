"""NetSuite SuiteTalk REST shapes (record API v1, OAuth 2.0 token) and exact-decimal JSON encoding."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Generic, NotRequired, TypedDict, TypeVar

T = TypeVar("T")


class Ref(TypedDict):
    """A reference to another record by internal id (`{"id": "1"}`)."""

    id: str


class Sublist(TypedDict, Generic[T]):
    items: list[T]


class AddressBookAddress(TypedDict):
    addr1: str
    addr2: NotRequired[str]
    city: str
    state: NotRequired[str]
    zip: str
    country: Ref


class AddressBookLine(TypedDict):
    defaultBilling: bool
    defaultShipping: bool
    addressBookAddress: AddressBookAddress


class TaxRegistrationLine(TypedDict):
    """A customer's tax registration (SuiteTax; REST web services do not take the legacy VAT field)."""

    nexusCountry: Ref
    taxRegistrationNumber: str


class CustomerBody(TypedDict):
    companyName: str
    email: NotRequired[str]
    subsidiary: Ref
    currency: Ref
    addressBook: Sublist[AddressBookLine]
    taxRegistration: Sublist[TaxRegistrationLine]


class ItemLine(TypedDict):
    item: Ref
    quantity: int
    rate: Decimal
    amount: Decimal
    description: str
    # Classic revenue recognition: a line with these dates posts to the item's deferred revenue account.
    revRecStartDate: NotRequired[str]
    revRecEndDate: NotRequired[str]  # the last day served (inclusive)


class InvoiceBody(TypedDict):
    entity: Ref
    subsidiary: Ref
    currency: Ref
    tranDate: str
    dueDate: str
    memo: str
    otherRefNum: NotRequired[str]
    item: Sublist[ItemLine]


class CreditMemoBody(TypedDict):
    entity: Ref
    subsidiary: Ref
    currency: Ref
    createdFrom: Ref
    tranDate: str
    memo: str
    item: Sublist[ItemLine]


class ApplyLine(TypedDict):
    doc: Ref
    apply: bool
    amount: Decimal


class CustomerPaymentBody(TypedDict):
    customer: Ref
    currency: Ref
    payment: Decimal
    memo: str
    apply: Sublist[ApplyLine]


class JournalLineBody(TypedDict):
    account: Ref
    debit: NotRequired[Decimal]
    credit: NotRequired[Decimal]
    memo: NotRequired[str]


class JournalEntryBody(TypedDict):
    subsidiary: Ref
    currency: Ref
    tranDate: str
    memo: NotRequired[str]
    line: Sublist[JournalLineBody]


# Keys with a colon cannot be class attributes: the functional form keeps NetSuite's names.
ErrorDetail = TypedDict("ErrorDetail", {"detail": str, "o:errorCode": str, "o:errorPath": str}, total=False)
ErrorBody = TypedDict(
    "ErrorBody", {"type": str, "title": str, "status": int, "o:errorDetails": list[ErrorDetail]}, total=False
)


def error_code_and_message(body: Any) -> tuple[str | None, str | None]:
    """(o:errorCode, detail) of a NetSuite error body, or (error, error_description) of an OAuth one."""
    if not isinstance(body, dict):
        return None, None
    details = body.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        code, detail = details[0].get("o:errorCode"), details[0].get("detail")
        return (code if isinstance(code, str) else None), (detail if isinstance(detail, str) else None)
    if isinstance(body.get("error"), str):
        return body["error"], body.get("error_description") or body["error"]
    title = body.get("title")
    return None, title if isinstance(title, str) else None


# An access token goes into an HTTP header: printable ASCII without spaces (RFC 6750's b64token and more).
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


def token_answer(body: Any) -> tuple[str, float]:
    """(access token, lifetime in seconds) of a token endpoint's answer; ValueError naming the unusable field.

    NetSuite documents `expires_in` as "3600" (a string): a JSON number is taken too."""
    if not isinstance(body, dict):
        raise ValueError("token answer is not a JSON object")
    token = body.get("access_token")
    if not isinstance(token, str) or not _TOKEN_TEXT.fullmatch(token):
        raise ValueError("token answer's access_token is missing or not printable ASCII")
    lifetime = body.get("expires_in", 3600)
    if isinstance(lifetime, str) and lifetime.isascii() and lifetime.isdigit():
        lifetime = int(lifetime)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | Decimal) or not 0 < lifetime <= 86_400:
        raise ValueError(f"token answer's expires_in is not a number of seconds up to a day: {lifetime!r}"[:200])
    return token, float(lifetime)
