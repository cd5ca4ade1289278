"""The one place Salesforce error responses become the connector error taxonomy."""

from __future__ import annotations

import json

import httpx

from connectors.errors import BusinessRuleError, ConnectorError, TransientError
from connectors.kit import default_status_error, retry_after_seconds

SYSTEM = "salesforce"

# Salesforce answers these with 400/403 although trying again shortly succeeds.
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED"})
# Validation rules are the org's business logic refusing the change.
BUSINESS_CODES = frozenset({"FIELD_CUSTOM_VALIDATION_EXCEPTION"})


def error_code(response: httpx.Response) -> tuple[str, str]:
    """(errorCode, message) from a REST error array or an OAuth error object; http_<status> otherwise."""
    fallback = f"http_{response.status_code}", response.text[:200]
    try:
        body = json.loads(response.content)
    except ValueError:
        return fallback
    if isinstance(body, list) and body and all(isinstance(item, dict) for item in body):
        messages = []
        for item in body:
            fields = item.get("fields")
            suffix = f" (fields: {', '.join(map(str, fields))})" if fields else ""
            messages.append(f"{item.get('message', '')}{suffix}")
        return str(body[0].get("errorCode") or fallback[0]), "; ".join(messages)
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), str(body.get("error_description", ""))
    return fallback


def classify(response: httpx.Response) -> ConnectorError | None:
    """Any non-2xx Salesforce response as Transient / BusinessRule / Permanent; `code` = the errorCode.

    401 INVALID_SESSION_ID is Permanent here: the client logs in again once before giving up."""
    code, message = error_code(response)
    status = response.status_code
    if code in RETRYABLE_CODES:
        return TransientError(SYSTEM, code, message, status=status, retry_after=retry_after_seconds(response))
    if code in BUSINESS_CODES:
        return BusinessRuleError(SYSTEM, code, message, status=status)
    return default_status_error(SYSTEM, response, code, message)
