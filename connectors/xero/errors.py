"""The one place Xero responses become the connector error taxonomy.

Xero answers a refused write with 400 and an `ApiException` body (`ErrorNumber`, `Type`, `Message`, and for a
`ValidationException` the `Elements` whose `ValidationErrors` say what is wrong); a missing record with a 404 and
a plain-text body; an expired or revoked token with 401 (`Detail: TokenExpired ...`); a tenant the connection does
not include with 403; a rate limit with 429, `Retry-After` and `X-Rate-Limit-Problem` (minute, day, concurrent).
"""

from __future__ import annotations

import json

import httpx

from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError
from connectors.kit import default_status_error, retry_after_seconds
from connectors.xero.wire import error_code_and_message

SYSTEM = "xero"

# A posting dated on or before the organisation's period lock date: Xero's own words.
LOCK_DATE_TEXT = "period lock date"
DUPLICATE_NAME_TEXT = "already assigned to another contact"


def is_locked_period(error: ConnectorError) -> bool:
    """Whether Xero refused a document because its date lies before the organisation's lock date."""
    return isinstance(error, BusinessRuleError) and LOCK_DATE_TEXT in error.message.lower()


def is_duplicate_name(error: ConnectorError) -> bool:
    """Whether Xero refused a contact because another contact has its name (names are unique per organisation)."""
    return isinstance(error, BusinessRuleError) and DUPLICATE_NAME_TEXT in error.message


def classify(response: httpx.Response) -> ConnectorError | None:
    """Any non-2xx Xero answer as Transient / BusinessRule / Permanent (Retry-After honoured)."""
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    code, message = error_code_and_message(body)
    text = response.text[:300] if body is None and response.content else None
    message = message or text or response.reason_phrase or f"HTTP {status}"
    if status == 429:
        # Which limit: minute and concurrent pass in seconds, the daily one may take hours (Retry-After says).
        problem = response.headers.get("X-Rate-Limit-Problem", "").strip().lower() or "unknown"
        return TransientError(
            SYSTEM, f"rate_limit_{problem}", message, status=status, retry_after=retry_after_seconds(response)
        )
    if status in (401, 403):
        # The client fetches a new token once on 401 before this reaches the caller; 403 is the tenant or scope.
        return PermanentError(SYSTEM, code or f"http_{status}", message, status=status)
    if status == 400:
        # A ValidationException is the books refusing the document (a closed period, an over-allocation, a
        # duplicate number); any other type (PostDataInvalidException, QueryParseException) is our request.
        if code == "ValidationException":
            return BusinessRuleError(SYSTEM, code, message, status=status)
        return PermanentError(SYSTEM, code or "http_400", message, status=status)
    if status == 404:
        return PermanentError(SYSTEM, "not_found", message, status=status)
    return default_status_error(SYSTEM, response, code or f"http_{status}", message)
