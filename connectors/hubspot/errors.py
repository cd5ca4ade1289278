"""The one place HubSpot error responses become the connector error taxonomy.

HubSpot answers a refusal with `{"status": "error", "message", "correlationId", "category"}` (a 429 adds
`errorType` RATE_LIMIT and the `policyName` that tripped: TEN_SECONDLY_ROLLING, SECONDLY or DAILY, and the
`X-HubSpot-RateLimit-*` headers); the OAuth token endpoint answers `{"status": "BAD_REFRESH_TOKEN", "message"}`.
"""

from __future__ import annotations

import json

import httpx

from connectors.errors import ConnectorError, PermanentError, TransientError
from connectors.kit import default_status_error, retry_after_seconds

SYSTEM = "hubspot"

# A write to a record another request is changing (423 Locked): trying again shortly succeeds.
LOCKED_RETRY_SECONDS = 2.0
# HubSpot's daily limit resets at midnight in the portal's time zone: come back in an hour, not in seconds.
DAILY_RETRY_SECONDS = 3600.0


def error_code(response: httpx.Response) -> tuple[str, str]:
    """(category / policy / OAuth status, message + correlation id) of a HubSpot error; http_<status> otherwise."""
    fallback = f"http_{response.status_code}", response.text[:200]
    try:
        body = json.loads(response.content)
    except ValueError:
        return fallback
    if not isinstance(body, dict):
        return fallback
    status = body.get("status")
    code = body.get("policyName") or body.get("category") or (status if status != "error" else None)
    message = str(body.get("message") or fallback[1])
    if body.get("correlationId"):
        message = f"{message} (correlationId {body['correlationId']})"
    return (str(code) if code else fallback[0]), message


def rate_limit_delay(response: httpx.Response, policy: str) -> float | None:
    """How long to wait after a 429: `Retry-After` when sent, an hour for the daily limit, else the rolling window
    (`X-HubSpot-RateLimit-Interval-Milliseconds`, ten seconds) in which the limit counts."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    if policy == "DAILY":
        return DAILY_RETRY_SECONDS
    interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")
    try:
        return max(0.0, int(interval) / 1000)
    except ValueError:
        return 1.0 if policy == "SECONDLY" else 10.0


def classify(response: httpx.Response) -> ConnectorError | None:
    """Any non-2xx HubSpot answer as Transient / BusinessRule / Permanent; `code` = HubSpot's category.

    401 is Permanent here: an OAuth client fetches a fresh token once before giving up. 409 CONFLICT is a unique
    value another record holds (not a lock): retrying changes nothing. A VALIDATION_ERROR on a write is our request
    (an unknown property, a bad option) and so Permanent; the connector turns a refused record into a
    BusinessRuleError where the record, not the request, is at fault (an unknown deal)."""
    code, message = error_code(response)
    status = response.status_code
    if status == 429:
        return TransientError(SYSTEM, code, message, status=status, retry_after=rate_limit_delay(response, code))
    if status == 423:
        return TransientError(SYSTEM, code, message, status=status, retry_after=LOCKED_RETRY_SECONDS)
    if status == 409:
        return PermanentError(SYSTEM, code, message, status=status)
    return default_status_error(SYSTEM, response, code, message)
