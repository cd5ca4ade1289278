"""The Stripe API v1 shapes (2020-08-27) this connector reads; fields it does not use are left out."""

from __future__ import annotations

from typing import Any, TypedDict

API_VERSION = "2020-08-27"

# Stripe's `reason` values for credit notes; any other reason text only goes to the memo.
CREDIT_NOTE_REASONS = frozenset({"duplicate", "fraudulent", "order_change", "product_unsatisfactory"})

# Metadata keys c2c writes so an invoice maps back to canonical without other lookups.
META_GOLDEN_ID = "golden_id"
META_DEAL_ID = "deal_id"
META_LEGAL_ENTITY = "legal_entity"
META_ISSUE_DATE = "issue_date"
META_DUE_DATE = "due_date"
META_TAX_DOCUMENT = "tax_document_code"
META_PRODUCT_CODE = "product_code"
META_LINE_KIND = "c2c_line"  # "tax" marks the tax line
LINE_KIND_TAX = "tax"


class ListObject(TypedDict):
    object: str
    data: list[Any]
    has_more: bool
    url: str


class Price(TypedDict):
    id: str
    object: str
    currency: str
    unit_amount: int | None
    lookup_key: str | None
    product: str


class SubscriptionItem(TypedDict):
    id: str
    price: Price
    quantity: int


class SubscriptionItems(TypedDict):
    data: list[SubscriptionItem]
    has_more: bool


class Subscription(TypedDict):
    id: str
    object: str
    status: str
    customer: str
    items: SubscriptionItems
    metadata: dict[str, str]


class LineItem(TypedDict):
    id: str
    amount: int
    currency: str
    description: str | None
    quantity: int | None
    price: Price | None
    metadata: dict[str, str]


class InvoiceLines(TypedDict):
    data: list[LineItem]
    has_more: bool


class Invoice(TypedDict):
    id: str
    object: str
    status: str
    number: str | None
    currency: str
    customer: str
    created: int
    due_date: int | None
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    amount_remaining: int
    payment_intent: str | None
    charge: str | None
    lines: InvoiceLines
    metadata: dict[str, str]


class BalanceTransaction(TypedDict):
    id: str
    amount: int
    currency: str
    fee: int
    net: int


class Charge(TypedDict):
    id: str
    amount: int
    currency: str
    status: str
    balance_transaction: BalanceTransaction | str | None


class Charges(TypedDict):
    data: list[Charge]


class PaymentIntent(TypedDict):
    id: str
    object: str
    status: str
    amount: int
    amount_received: int
    currency: str
    charges: Charges


class Customer(TypedDict):
    id: str
    object: str
    name: str | None
    email: str | None
    metadata: dict[str, str]
