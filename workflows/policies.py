"""Retry policies and timeouts, named once. Temporal's retry loop is the only one in c2c.

Business-rule and permanent errors are never retried blindly: the saga parks them for finance.
Transient errors and uncertain outcomes retry with the same idempotency key, which makes the retry safe.
"""

from datetime import timedelta

from temporalio.common import RetryPolicy

NON_RETRYABLE = ["BusinessRuleError", "PermanentError"]

# Vendor calls: a few minutes of backoff, then the saga parks as `unavailable` instead of failing.
VENDOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=NON_RETRYABLE,
)

# Our own database: short outages only.
HUB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
    non_retryable_error_types=NON_RETRYABLE,
)

# Undo steps must eventually happen: retry until they do (each undo is idempotent).
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
    non_retryable_error_types=["PermanentError"],
)

# Start-to-close per vendor call; longer than the HTTP timeout (settings.http_timeout), so a slow call fails
# in httpx first. It is also how long a crashed worker's activity waits before another worker retries it.
ACTIVITY_TIMEOUT = timedelta(seconds=30)
