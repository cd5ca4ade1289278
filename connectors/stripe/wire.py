"""The Stripe API v1 shapes (2020-08-27) this connector reads; fields it does not use are left out.

Every answer is checked against its shape before it is read (`connectors.stripe.checks.checked`): a field missing
or of another type is a PermanentError naming it, never a KeyError deep inside a mapping. Amounts are integers of
minor units and timestamps Unix seconds within Python's dates (`Amount`, `Timestamp`)."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic validates typing_extensions' TypedDicts on 3.11

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
    "charge.dispute.created": "dispute",
}


def _minor_units(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("amount", "not an integer amount of minor units")
    return value


_LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z: datetime cannot go further


def _unix_seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LATEST:
        raise PydanticCustomError("timestamp", "not a Unix timestamp in seconds")
    return value


Amount = Annotated[int, PlainValidator(_minor_units)]
Timestamp = Annotated[int, PlainValidator(_unix_seconds)]
Metadata = dict[str, str]  # Stripe's metadata values are always strings


class Page(TypedDict):
    """A list's page, its items checked by their own shape."""

    data: list[Any]
    has_more: bool


class Created(TypedDict):
    """Any object, read for its id only (a write's answer)."""

    id: str


class Recurring(TypedDict):
    interval: str
    usage_type: NotRequired[str]  # "licensed" (quantity x price) or "metered" (the meter's usage, in arrears)
    meter: NotRequired[str | None]


class Price(TypedDict):
    id: str
    object: str
    currency: str
    unit_amount: Amount | None
    lookup_key: str | None
    product: str
    metadata: Metadata
    recurring: NotRequired[Recurring | None]


class PriceList(TypedDict):
    data: list[Price]
    has_more: bool


class Product(TypedDict):
    id: str
    object: str
    name: str
    metadata: Metadata


class SubscriptionItem(TypedDict):
    id: str
    price: Price
    quantity: NotRequired[int]  # absent on a metered item


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
    start: Timestamp
    end: Timestamp


class LineItem(TypedDict):
    id: str
    type: str  # "subscription" (billed by a subscription item) or "invoiceitem"
    amount: Amount
    currency: str
    description: str | None
    quantity: int | None
    price: Price | None
    subscription: str | None
    metadata: Metadata
    period: NotRequired[LinePeriod]  # the service period a subscription line bills (a proration: the part period)
    proration: NotRequired[bool]  # a proration of a subscription update (an `invoiceitem` line, signed)


class InvoiceLines(TypedDict):
    data: list[LineItem]
    has_more: bool


class StatusTransitions(TypedDict):
    finalized_at: Timestamp | None
    paid_at: Timestamp | None


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
    created: Timestamp
    due_date: Timestamp | None
    subtotal: Amount
    total: Amount
    amount_due: Amount
    amount_paid: Amount
    amount_remaining: Amount
    post_payment_credit_notes_amount: NotRequired[Amount]
    payment_intent: str | None
    charge: str | None
    lines: InvoiceLines
    metadata: Metadata
    status_transitions: NotRequired[StatusTransitions]


class InvoiceList(TypedDict):
    data: list[Invoice]
    has_more: bool


class PendingItem(TypedDict):
    """An invoice item on no invoice yet (`GET /v1/invoiceitems?pending=true`): what c2c reads of it."""

    id: str
    amount: Amount
    subscription: str | None
    proration: bool


class PendingItemList(TypedDict):
    data: list[PendingItem]
    has_more: bool


class Subscription(TypedDict):
    id: str
    object: str
    status: str
    customer: str
    created: Timestamp
    items: SubscriptionItems
    metadata: Metadata
    latest_invoice: str | Invoice | None  # an Invoice when asked with expand[]=latest_invoice
    current_period_end: NotRequired[Timestamp]
    current_period_start: NotRequired[Timestamp]
    cancel_at: NotRequired[Timestamp | None]
    cancel_at_period_end: NotRequired[bool]
    canceled_at: NotRequired[Timestamp | None]
    ended_at: NotRequired[Timestamp | None]


class SubscriptionList(TypedDict):
    data: list[Subscription]
    has_more: bool


class BalanceTransaction(TypedDict):
    id: str
    amount: Amount
    currency: str
    fee: Amount
    net: Amount


class Charge(TypedDict):
    id: str
    amount: Amount
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
    amount: Amount
    amount_received: Amount
    currency: str
    invoice: NotRequired[str | None]
    charges: Charges
    last_payment_error: PaymentError | None
    created: NotRequired[int]


class Refund(TypedDict):
    id: str
    amount: Amount
    currency: str
    status: str
    payment_intent: str | None
    metadata: Metadata
    charge: NotRequired[str | None]
    created: NotRequired[Timestamp]


class RefundedCharge(TypedDict):
    """A charge as a refund reads it: what was captured and refunded, and the invoice it paid."""

    id: str
    amount: Amount
    amount_refunded: Amount
    currency: str
    invoice: NotRequired[str | None]
    payment_intent: str | None


class DisputeFunds(TypedDict):
    """A balance transaction of a dispute: negative when funds were withdrawn, positive when reinstated."""

    id: str
    amount: Amount


class Dispute(TypedDict):
    """Stripe's Dispute object, the fields c2c reads."""

    id: str
    amount: Amount
    charge: str
    currency: str
    reason: str
    status: str
    balance_transactions: list[DisputeFunds]
    created: Timestamp
    payment_intent: NotRequired[str | None]


class RefundList(TypedDict):
    data: list[Refund]
    has_more: bool


class CreditNote(TypedDict):
    id: str
    object: str
    amount: Amount
    total: Amount
    number: NotRequired[str | None]
    refund: NotRequired[str | None]
    currency: str
    customer: NotRequired[str]
    invoice: str
    status: str
    type: str  # pre_payment (less is due) or post_payment (credited after payment)
    created: Timestamp
    metadata: Metadata


class CreditNoteList(TypedDict):
    data: list[CreditNote]
    has_more: bool


class CustomerAddress(TypedDict):
    line1: str | None
    line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None


class Customer(TypedDict):
    id: str
    object: str
    name: str | None
    email: str | None
    address: NotRequired[CustomerAddress | None]
    metadata: Metadata


class CustomerSearch(TypedDict):
    data: list[Customer]
    has_more: bool


USAGE_METERED = "metered"
# Stripe refuses a meter event whose identifier it saw in the last 24 hours (and a second meter per event name).
ERROR_RESOURCE_EXISTS = "resource_already_exists"


class Meter(TypedDict):
    id: str
    object: str
    event_name: str
    status: str


class MeterList(TypedDict):
    data: list[Meter]
    has_more: bool


class MeterEvent(TypedDict):
    identifier: str
    event_name: str
    timestamp: Timestamp


class MeterEventSummary(TypedDict):
    aggregated_value: int | float
    start_time: Timestamp
    end_time: Timestamp


class MeterEventSummaryList(TypedDict):
    data: list[MeterEventSummary]
    has_more: bool
