"""What the current piece of work belongs to: the saga (correlation id), its stage and the system it talks to.

The worker's activity interceptor binds it; connectors (outbound `X-Correlation-Id`, span attributes) and the
log formatter read it. Standard library only, so connectors can use it without importing Temporal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

CORRELATION_HEADER = "X-Correlation-Id"


@dataclass(frozen=True)
class WorkContext:
    correlation_id: str | None = None  # the saga's workflow id
    stage: str | None = None
    system: str | None = None
    since: float | None = None  # when the work began (its workflow's start, epoch s): the gate serves older first


_current: ContextVar[WorkContext | None] = ContextVar("c2c_work_context", default=None)


def current() -> WorkContext:
    """The bound context, or an empty one outside any saga work."""
    return _current.get() or WorkContext()


@contextmanager
def bound(
    *,
    correlation_id: str | None = None,
    stage: str | None = None,
    system: str | None = None,
    since: float | None = None,
) -> Iterator[None]:
    """Bind fields for the duration of a block (asyncio tasks and `to_thread` calls started inside inherit it);
    fields left None keep the outer value."""
    outer = current()
    token = _current.set(
        replace(
            outer,
            correlation_id=correlation_id or outer.correlation_id,
            stage=stage or outer.stage,
            system=system or outer.system,
            since=since if since is not None else outer.since,
        )
    )
    try:
        yield
    finally:
        _current.reset(token)
