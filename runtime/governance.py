"""Put a process's connectors behind the vendors' shared request limits (issue 16): the worker and the trigger API
both call `govern_vendors` once they have their store, so every vendor request of either counts."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.common import MetricMeter

from connectors.factory import Connectors
from connectors.limits import RateGate
from observability.metrics import VendorMetrics
from settings import Settings
from store import SqlRateBook


def govern_vendors(
    connectors: Connectors, engine: Engine, settings: Settings, meter: MetricMeter | None = None
) -> Connectors:
    """`connectors`, every request now behind `settings.rate_limits` shared through the store; 429s counted on
    `meter`."""
    connectors.govern(RateGate(SqlRateBook(engine), settings.rate_limits, on_throttled=VendorMetrics(meter).throttled))
    return connectors
