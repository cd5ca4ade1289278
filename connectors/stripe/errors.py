"""`classify`: the one place a Stripe error response becomes the connector error taxonomy."""

from __future__ import annotations

import httpx

from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError
from connectors.kit import default_status_error, retry_after_seconds

SYSTEM = "stripe"

# 400s that refuse a refund on the charge's state, not on our request: finance decides (the refund parks).
REFUND_REFUSALS = frozenset({"charge_already_refunded", "charge_disputed", "amount_too_large"})


def _error_fields(response: httpx.Response) -> dict[str, str]:
    """The `error` object of Stripe's envelope as strings; empty when the body is not Stripe JSON."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return {}
    return {k: str(v) for k, v in error.items() if isinstance(v, str | int) and not isinstance(v, bool)}


def classify(response: httpx.Response) -> ConnectorError | None:
    """Non-2xx -> taxonomy. `Stripe-Should-Retry` wins; 402 card errors are business refusals.

    code = decline_code for declines, else Stripe's error code, else its error type."""
    if response.is_success:
        return None
    status = response.status_code
    error = _error_fields(response)
    error_type = error.get("type", "")
    code = error.get("code") or error_type or f"http_{status}"
    message = error.get("message") or response.text[:200] or response.reason_phrase
    declined = status == 402 or error_type == "card_error"
    should_retry = response.headers.get("Stripe-Should-Retry", "").lower()
    if should_retry == "true":
        return TransientError(SYSTEM, code, message, status=status, retry_after=retry_after_seconds(response))
    if declined:
        return BusinessRuleError(SYSTEM, error.get("decline_code") or code, message, status=status)
    if status == 400 and code in REFUND_REFUSALS:
        return BusinessRuleError(SYSTEM, code, message, status=status)
    if should_retry == "false":
        return PermanentError(SYSTEM, code, message, status=status)
    if error_type == "idempotency_error" and status == 400:
        # Same key, different body: our bug, never fixed by retrying.
        return PermanentError(SYSTEM, code, message, status=status)
    # 429 / 5xx / 409 (key in flight, lock_timeout) -> TransientError; 400/401/403/404 -> PermanentError.
    return default_status_error(SYSTEM, response, code, message)
