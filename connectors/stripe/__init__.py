"""Stripe connector: `StripeBilling` (BillingSystem role), `classify`, webhook verification, form encoding."""

from connectors.stripe.client import StripeBilling
from connectors.stripe.errors import classify
from connectors.stripe.forms import encode_form
from connectors.stripe.webhooks import InvalidSignature, verify_event

__all__ = ["InvalidSignature", "StripeBilling", "classify", "encode_form", "verify_event"]
