"""Traces, metrics and logs for c2c processes.

- `correlation`: the saga/stage/system the current work belongs to (standard library only: connectors use it).
- `tracing`: OpenTelemetry provider (OTLP/HTTP export only when `otlp_endpoint` is set), Temporal's tracing
  interceptor, server spans for the trigger API.
- `metrics`: the Temporal runtime with a Prometheus endpoint, and the saga's business metrics.
- `logs`: structured logging (JSON or console) with correlation id, stage and system, secrets redacted.
- `interceptor`: the worker interceptor that feeds all three from workflows and activities.

Kept import-light on purpose: `import observability.correlation` must not pull in Temporal or the OTel SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from settings import Settings


def setup_process(settings: Settings, component: str) -> Callable[[], None]:
    """Logging and tracing for one c2c process (`component`: worker, api, cli); returns the shutdown to call
    before the process exits (it flushes spans still waiting for export)."""
    from observability.logs import setup_logging
    from observability.tracing import setup_tracing

    setup_logging(settings)
    provider = setup_tracing(settings, component)
    return provider.shutdown if provider is not None else _nothing


def _nothing() -> None:
    return None
