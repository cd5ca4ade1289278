"""The activity boundary: connector errors become Temporal ApplicationErrors, in one place.

`type` is the taxonomy class name, which the retry policies match in `non_retryable_error_types` and
the workflow reads to decide between parking and failing. `details[0]` carries system/code/message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from connectors.errors import (
    BusinessRuleError,
    ConnectorError,
    PermanentError,
    TransientError,
)


def to_application_error(error: ConnectorError) -> ApplicationError:
    details = {"system": error.system, "code": error.code, "message": error.message}
    delay = None
    if isinstance(error, TransientError) and error.retry_after is not None:
        delay = timedelta(seconds=error.retry_after)
    return ApplicationError(
        str(error),
        details,
        type=type(error).__name__,
        non_retryable=isinstance(error, BusinessRuleError | PermanentError),
        next_retry_delay=delay,
    )


@contextmanager
def translated() -> Iterator[None]:
    """Run a connector call; re-raise its taxonomy error as the matching ApplicationError."""
    try:
        yield
    except ConnectorError as error:
        raise to_application_error(error) from error
