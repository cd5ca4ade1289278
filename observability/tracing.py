"""OpenTelemetry tracing: one trace per deal, from the CRM webhook through every workflow, activity and vendor call.

The trigger API opens a server span per request (`instrument_api`); Temporal's `TracingInterceptor` on the
client and workers carries the context through StartWorkflow -> RunWorkflow -> StartActivity -> RunActivity;
`connectors.kit.send` opens a client span per vendor call under the activity's span.
Spans leave the process only over OTLP/HTTP and only when `otlp_endpoint` is set; otherwise no SDK is
installed and every span is a no-op (no exporter, no network).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from settings import Settings

_tracer = trace.get_tracer("c2c.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def tracer_provider(settings: Settings, component: str) -> TracerProvider | None:
    """An SDK provider exporting over OTLP/HTTP to `otlp_endpoint`; None when no endpoint is configured."""
    if not settings.otlp_endpoint:
        return None
    # Imported here: the exporter is only needed (and only loaded) when something will be exported.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({"service.name": settings.service_name, "c2c.component": component})
    provider = TracerProvider(resource=resource)
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def setup_tracing(settings: Settings, component: str) -> TracerProvider | None:
    """Install the OTLP provider as the process's global one when an endpoint is set; returns it (call its
    `shutdown()` before exit to flush), or None when tracing stays a no-op."""
    provider = tracer_provider(settings, component)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


def client_interceptors() -> list[ClientInterceptor]:
    """Interceptors for every Temporal client: workers made from such a client trace workflows and activities too.

    Cheap without an SDK provider: spans are non-recording and nothing is added to headers."""
    return [TracingInterceptor()]


class TraceRequests:
    """ASGI middleware: one server span per HTTP request, continuing a caller's `traceparent` if it sent one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        method = scope.get("method", "GET")
        with _tracer.start_as_current_span(
            f"{method} {scope.get('path', '')}",
            context=propagate.extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        ) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                await send(message)

            await self.app(scope, receive, send_traced)
            route = getattr(scope.get("route"), "path", None)
            if route:
                # The route template, not the path: span names stay few however many deals there are.
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)


def instrument_api(app: Any) -> None:
    """Add server spans to a FastAPI/Starlette app (call before it starts serving)."""
    app.add_middleware(TraceRequests)
