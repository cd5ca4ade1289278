"""Stripe connector: `StripeBilling` (BillingSystem role), `classify`, webhook verification, form encoding."""

from connectors.stripe.client import StripeBilling
from connectors.stripe.errors import classify
from connectors.stripe.forms import encode_form
from connectors.stripe.webhooks import InvalidSignature, PaymentNotice, payment_notice, verify_event

__all__ = [
    "InvalidSignature",
    "PaymentNotice",
    "StripeBilling",
    "classify",
    "encode_form",
    "payment_notice",
    "verify_event",
]
