"""The one place Chargebee responses become the connector error taxonomy.

Chargebee answers every refusal with `{"message", "type", "api_error_code", "param", "error_code",
"http_status_code"}`. `type` groups them: `payment` (the gateway refused: a business refusal), `invalid_request`
(our request, or a record in a state that does not allow it), `operation_failed` (valid, but Chargebee could not
do it now); auth (401 `api_authentication_failed`, 403 `api_authorization_failed`), the rate limit (429
`api_request_limit_exceeded`) and server errors carry no type.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from connectors.chargebee.wire import error_fields
from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError
from connectors.kit import default_status_error, retry_after_seconds

SYSTEM = "chargebee"

# A decline names the gateway's reason in the message: "(card_declined) Your card was declined."
DECLINE_REASONS = ("card_declined", "insufficient_funds", "expired_card", "incorrect_cvc", "do_not_honor")


def classify(response: httpx.Response) -> ConnectorError | None:
    """Any non-2xx Chargebee answer as Transient / BusinessRule / Permanent (Retry-After honoured)."""
    if response.is_success:
        return None
    status = response.status_code
    fields = error_fields(response.content)
    code = fields.get("api_error_code") or f"http_{status}"
    message = fields.get("message") or response.text[:200] or response.reason_phrase or f"HTTP {status}"
    if fields.get("param"):
        message = f"{message} (param {fields['param']})"
    kind = fields.get("type")
    if status == 429 or code == "api_request_limit_exceeded":
        return TransientError(SYSTEM, code, message, status=status, retry_after=retry_after_seconds(response))
    if status >= 500 or code in ("lock_timeout", "internal_temporary_error", "site_not_ready"):
        return TransientError(SYSTEM, code, message, status=status, retry_after=retry_after_seconds(response))
    if kind == "payment":
        reason = next((r for r in DECLINE_REASONS if r in message), None)
        return BusinessRuleError(SYSTEM, reason or code, message, status=status)
    if kind == "operation_failed":
        return BusinessRuleError(SYSTEM, code, message, status=status)
    # invalid_request (resource_not_found, duplicate_entry, param_wrong_value, invalid_state_for_request), auth:
    # our request or our credentials; the client turns the ones it expects (a duplicate id) into answers.
    if status in (400, 401, 403, 404, 405):
        return PermanentError(SYSTEM, code, message, status=status)
    return default_status_error(SYSTEM, response, code, message)


def checked(read: Any, *args: Any) -> Any:
    """A wire/mapping reader whose ValueError (an answer not in the documented shape) becomes PermanentError."""
    try:
        return read(*args)
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(SYSTEM, "bad_response", str(exc)[:300]) from exc


def path_id(record_id: str) -> str:
    """An id as one URL path segment."""
    return quote(record_id, safe="")
