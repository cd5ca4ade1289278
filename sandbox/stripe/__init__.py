"""Stripe API v1 emulator: form-encoded requests, Stripe ids, idempotency keys, invoices and webhooks."""
