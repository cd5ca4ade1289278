"""Fixtures for observability tests: recorded spans, the trigger API on a real port, restored logging."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity, workflow

from observability.logs import QUIET_LOGGERS
from tests.support.estate import Estate
from tests.support.polling import eventually


class Recorder(SpanProcessor):
    """Forwards finished spans to an in-memory exporter only while a test records (the provider is global)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.inner = SimpleSpanProcessor(self.exporter)
        self.on = False

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)


@pytest.fixture(scope="session")
def _recorder() -> Recorder:
    """An SDK provider as the process's global one (OpenTelemetry allows setting it once per process)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    recorder = Recorder()
    provider.add_span_processor(recorder)
    return recorder


@pytest.fixture
def spans(_recorder: Recorder) -> Iterator[InMemorySpanExporter]:
    _recorder.exporter.clear()
    _recorder.on = True
    yield _recorder.exporter
    _recorder.on = False
    _recorder.exporter.clear()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide state; put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    flags = workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)
    workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = flags


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        yield url
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def crm_webhook_to(estate: Estate, url: str, secret: str) -> AsyncIterator[None]:
    """Point the CRM emulator's closed-won webhook at the trigger API for the duration of a test."""
    admin = f"{estate.urls['salesforce']}/_sandbox/webhook"
    (await estate.http.post(admin, json={"url": f"{url}/webhooks/salesforce", "secret": secret})).raise_for_status()
    try:
        yield
    finally:
        await estate.http.post(admin, json={"url": None})
