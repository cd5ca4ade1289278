"""The Stripe API v1 shapes (2020-08-27) this connector reads; fields it does not use are left out."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

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
META_SAGA = "c2c_saga"  # the saga's workflow id (canonical external_refs["c2c"]): webhooks find the saga by it
# On credit notes: the idempotency key that created it, so a retry after Stripe forgot the key (24 h) finds it.
META_IDEMPOTENCY_KEY = "c2c_key"

# c2c's subscriptions bill by `send_invoice`, so their first invoice waits as a draft for our tax line;
# the connector then pays it itself (`POST /pay` charges the customer's default payment method).
COLLECTION_METHOD = "send_invoice"
DAYS_UNTIL_DUE = 1  # Stripe requires it with send_invoice; positive, as in all of Stripe's examples
LINE_TYPE_SUBSCRIPTION = "subscription"
BILLING_REASON_CYCLE = "subscription_cycle"  # an invoice Stripe made at a period end for the next period
INVOICE_DRAFT = "draft"
INVOICE_OPEN = "open"
INVOICE_PAID = "paid"
INVOICE_VOID = "void"
INVOICE_UNCOLLECTIBLE = "uncollectible"
INVOICE_UNPAID = frozenset({INVOICE_OPEN, INVOICE_UNCOLLECTIBLE})  # finalized, money still due
SUBSCRIPTION_CANCELED = "canceled"
PRORATION_BEHAVIOR = "create_prorations"  # amendments bill the part period on the next invoice
ERROR_AMOUNT_TOO_LARGE = "amount_too_large"  # a credit note beyond what the invoice can still be credited

# Error codes of `POST /v1/invoices/{id}/pay` that mean "look at the invoice's payment instead".
ERROR_ALREADY_PAID = "invoice_already_paid"
ERROR_PAYMENT_PROCESSING = "payment_intent_unexpected_state"  # an earlier (bank debit) payment is processing

# Payment intent statuses (API 2020-08-27).
INTENT_SUCCEEDED = "succeeded"
INTENT_PROCESSING = "processing"
INTENT_FAILED = frozenset({"requires_payment_method", "canceled"})  # the attempt failed: a new method is needed

# Events that tell a saga its payment changed, and the kind of object each carries.
PAYMENT_NOTICE_TYPES: dict[str, str] = {
    "invoice.paid": "invoice",
    "invoice.payment_failed": "invoice",
    "payment_intent.succeeded": "payment_intent",
    "payment_intent.payment_failed": "payment_intent",
    "charge.refunded": "charge",
}


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
    metadata: dict[str, str]


class Product(TypedDict):
    id: str
    object: str
    name: str
    metadata: dict[str, str]


class SubscriptionItem(TypedDict):
    id: str
    price: Price
    quantity: int


class SubscriptionItemChange(TypedDict, total=False):
    """One `items[n]` of `POST /v1/subscriptions/{id}`."""

    id: str
    price: str
    quantity: int
    deleted: bool


class SubscriptionItems(TypedDict):
    data: list[SubscriptionItem]
    has_more: bool


class LinePeriod(TypedDict):
    start: int
    end: int


class LineItem(TypedDict):
    id: str
    type: str  # "subscription" (billed by a subscription item) or "invoiceitem"
    amount: int
    currency: str
    description: str | None
    quantity: int | None
    price: Price | None
    subscription: str | None
    metadata: dict[str, str]
    period: NotRequired[LinePeriod]  # the service period a subscription line bills (a proration: the part period)
    proration: NotRequired[bool]  # a proration of a subscription update (an `invoiceitem` line, signed)


class InvoiceLines(TypedDict):
    data: list[LineItem]
    has_more: bool


class Invoice(TypedDict):
    id: str
    object: str
    status: str
    subscription: str | None
    billing_reason: str | None
    auto_advance: bool
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
    post_payment_credit_notes_amount: NotRequired[int]
    payment_intent: str | None
    charge: str | None
    lines: InvoiceLines
    status_transitions: NotRequired[dict[str, int | None]]
    metadata: dict[str, str]


class Subscription(TypedDict):
    id: str
    object: str
    status: str
    customer: str
    items: SubscriptionItems
    metadata: dict[str, str]
    latest_invoice: str | Invoice | None  # an Invoice when asked with expand[]=latest_invoice
    created: NotRequired[int]
    current_period_end: NotRequired[int]
    current_period_start: NotRequired[int]
    cancel_at: NotRequired[int | None]
    cancel_at_period_end: NotRequired[bool]


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
    created: NotRequired[int]


class Charges(TypedDict):
    data: list[Charge]


class PaymentError(TypedDict, total=False):
    type: str
    code: str
    decline_code: str
    message: str


class PaymentIntent(TypedDict):
    id: str
    object: str
    status: str
    amount: int
    amount_received: int
    currency: str
    charges: Charges
    last_payment_error: PaymentError | None
    created: NotRequired[int]


class CreditNote(TypedDict):
    id: str
    object: str
    amount: int
    total: NotRequired[int]
    refund: NotRequired[str | None]
    currency: str
    invoice: str
    status: str
    type: str  # pre_payment (less is due) or post_payment (credited after payment)
    metadata: dict[str, str]
    created: NotRequired[int]


class Customer(TypedDict):
    id: str
    object: str
    name: str | None
    email: str | None
    metadata: dict[str, str]
