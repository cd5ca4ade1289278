"""The one place NetSuite responses become the connector error taxonomy."""

from __future__ import annotations

import json

import httpx

from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError
from connectors.kit import default_status_error, retry_after_seconds
from connectors.netsuite.wire import error_code_and_message

SYSTEM = "netsuite"

# Governance limits: NetSuite usually answers 429, some paths a 400 with the same codes.
RATE_LIMIT_CODES = frozenset({"CONCURRENCY_LIMIT_EXCEEDED", "SSS_REQUEST_LIMIT_EXCEEDED"})
# 400s that mean our request is malformed or names records that do not exist: fixing data won't help.
REQUEST_ERROR_CODES = frozenset(
    {
        "INVALID_KEY_OR_REF",
        "INVALID_CONTENT",
        "INVALID_VALUE",
        "INVALID_ID",
        "NONEXISTENT_ID",
        "INVALID_FLD_VALUE",
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
    }
)


# NetSuite's code for a posting dated in a closed period; the REST API often answers USER_ERROR instead,
# with the reason only in the detail ("The accounting period of 2025-03-15 is closed. ...").
CLOSED_PERIOD_CODES = frozenset({"CLOSED_TRAN_PRD"})


def is_closed_period(error: ConnectorError) -> bool:
    """Whether NetSuite refused a transaction because its date lies in a closed accounting period."""
    if error.code in CLOSED_PERIOD_CODES:
        return True
    text = error.message.lower()
    return error.code == "USER_ERROR" and "period" in text and "closed" in text


def classify(response: httpx.Response) -> ConnectorError | None:
    """Any non-2xx NetSuite answer as Transient / BusinessRule / Permanent (Retry-After honoured)."""
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    code, message = error_code_and_message(body)
    message = message or response.reason_phrase or f"HTTP {status}"
    if code in RATE_LIMIT_CODES:
        return TransientError(SYSTEM, code, message, status=status, retry_after=retry_after_seconds(response))
    code = code or f"http_{status}"
    if status in (401, 403):
        # The client refetches the token once on 401 before this reaches the caller.
        return PermanentError(SYSTEM, code, message, status=status)
    if status == 400:
        if code in REQUEST_ERROR_CODES or code == "http_400":
            return PermanentError(SYSTEM, code, message, status=status)
        # USER_ERROR and the other business codes: closed period, over-application, out of balance...
        return BusinessRuleError(SYSTEM, code, message, status=status)
    return default_status_error(SYSTEM, response, code, message)
