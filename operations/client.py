"""The Temporal client every c2c process uses: the payload codec and the tracing interceptor."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from codec import data_converter
from observability.tracing import client_interceptors
from settings import Settings


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client for c2c: payload codec, tracing interceptor (workers made from it trace too); `runtime` carries
    the worker's Prometheus endpoint (None: the SDK's default runtime)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.encryption_keys()),
        interceptors=client_interceptors(),
        runtime=runtime,
    )
