"""The business event types: `<noun>.<verb>`, two subject tokens each (broker/subjects.py counts on it)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CUSTOMER_CREATED = "customer.created"
    SUBSCRIPTION_ACTIVATED = "subscription.activated"
    TAX_QUOTED = "tax.quoted"
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_POSTED = "invoice.posted"
    INVOICE_SENT = "invoice.sent"
    PAYMENT_REMINDER = "payment.reminder"
    INVOICE_UNCOLLECTIBLE = "invoice.uncollectible"
    PAYMENT_SETTLED = "payment.settled"
    PAYMENT_APPLIED = "payment.applied"
    SAGA_PARKED = "saga.parked"
    SAGA_CANCELLED = "saga.cancelled"
    CREDIT_MEMO_APPLIED = "credit_memo.applied"
    SUBSCRIPTION_AMENDED = "subscription.amended"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_ENDED = "subscription.ended"
    REFUND_ISSUED = "refund.issued"
