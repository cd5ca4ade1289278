"""The one error taxonomy every connector raises; activities translate it for Temporal.

ConnectorError
 ├─ TransientError     retry: 5xx, 429, connect failure or timeout before the request was sent
 ├─ UncertainOutcome   the write may have happened (timeout after send, dropped response):
 │                     the next attempt must replay the idempotency key / look up before creating
 ├─ BusinessRuleError  the system refused on business grounds (bad address, card declined):
 │                     no blind retry, the saga parks in the exception queue with `code`
 └─ PermanentError     our request is wrong or auth is broken: fail fast and loud
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base: `system` says which vendor, `code` the vendor's (or our) short error code."""

    def __init__(self, system: str, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{system}: {code}: {message}")
        self.system = system
        self.code = code
        self.message = message
        self.status = status


class TransientError(ConnectorError):
    def __init__(
        self,
        system: str,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(system, code, message, status=status)
        self.retry_after = retry_after


class UncertainOutcome(ConnectorError):
    pass


class BusinessRuleError(ConnectorError):
    pass


class PermanentError(ConnectorError):
    pass
