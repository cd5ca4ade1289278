"""Stripe connector: `StripeBilling` (BillingSystem role), `classify`, webhook verification, form encoding."""

from connectors.stripe.client import StripeBilling
from connectors.stripe.errors import classify
from connectors.stripe.forms import encode_form
from connectors.stripe.webhooks import InvalidSignature, InvoiceEvent, invoice_event, verify_event

__all__ = [
    "InvalidSignature",
    "InvoiceEvent",
    "StripeBilling",
    "classify",
    "encode_form",
    "invoice_event",
    "verify_event",
]
