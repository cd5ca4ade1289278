"""Fixtures for observability tests: recorded spans and restored logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity, workflow

from observability.logs import QUIET_LOGGERS


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
