"""Helpers every connector shares: sending a request and mapping transport failures to the taxonomy.

Each connector keeps its own `classify(response)` for vendor error bodies; this module only knows HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import urllib.request
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any, Protocol
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import httpx
from opentelemetry import trace

from connectors.errors import ConnectorError, PermanentError, TransientError, UncertainOutcome
from observability import correlation

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_tracer = trace.get_tracer("c2c.connectors")
_log = logging.getLogger("c2c.connectors")
_MAX_SNIFFED_BODY = 256 * 1024  # record ids are read from small JSON answers only

Classifier = Callable[[httpx.Response], ConnectorError | None]


class Gate(Protocol):
    """What a process puts in front of the vendors' APIs (store/ratelimits.py): `slot` waits until the vendor's
    limits allow one more request and is held while it runs (it may raise a TransientError, e.g. a spent daily
    budget); `throttled` hears of each 429 the vendor answered anyway."""

    def slot(self, system: str) -> AbstractAsyncContextManager[object]: ...

    def throttled(self, system: str) -> None: ...


# The gate of each shared HTTP client (connectors/factory.py makes one client per process; `govern` attaches the
# gate once the process has its store). Keyed weakly so a closed client takes its gate with it.
_gates: WeakKeyDictionary[httpx.AsyncClient, Gate] = WeakKeyDictionary()


def govern(client: httpx.AsyncClient, gate: Gate) -> None:
    """Put every request `send` makes through `client` behind `gate`."""
    _gates[client] = gate


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every HTTP client c2c makes (`httpx.AsyncClient(verify=tls_context())`), built once per
    process: httpx builds a new context for each client otherwise, loading the CA bundle — 33 ms of CPU a client,
    a tenth of the test suite's CPU when measured. One context serves any number of clients and threads."""
    return httpx.create_ssl_context()


class PoolPerOrigin(httpx.AsyncBaseTransport):
    """One connection pool per vendor origin behind one client. httpcore's pool checks every pooled connection
    (a readability poll of its socket each) on each request and response, and counts its connections once per idle
    one, so with every vendor's keep-alive connections in one pool of up to 100 a request cost grew with the
    connections to all the others: 7 % of a worker's CPU under a burst of sagas (issue 16, py-spy). Per origin,
    a request scans only its own vendor's few connections. `limits` apply to each origin's pool."""

    def __init__(self, limits: httpx.Limits, verify: ssl.SSLContext) -> None:
        self._limits, self._verify = limits, verify
        self._pools: dict[tuple[bytes, bytes, int | None], httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def vendor_client(timeout: httpx.Timeout, max_connections: int = 100) -> httpx.AsyncClient:
    """The HTTP client a process shares among its connectors: pooled per vendor origin, TLS context built once.
    Behind a proxy from the environment (HTTPS_PROXY, …) every request goes to the proxy's one origin anyway, and
    httpx honours those variables only without a transport of ours: then one pool, as httpx makes it."""
    limits = httpx.Limits(max_connections=max_connections)
    if urllib.request.getproxies():
        return httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls_context())
    return httpx.AsyncClient(timeout=timeout, transport=PoolPerOrigin(limits, tls_context()))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds (delta-seconds or HTTP-date form); None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def default_status_error(system: str, response: httpx.Response, code: str, message: str) -> ConnectorError:
    """The HTTP-status part of classification that is the same for every vendor."""
    status = response.status_code
    if status == 429 or status >= 500:
        return TransientError(system, code, message, status=status, retry_after=retry_after_seconds(response))
    if status == 409:
        # A concurrent request holds the same idempotency key / record lock: try again shortly.
        return TransientError(system, code, message, status=status, retry_after=retry_after_seconds(response))
    return PermanentError(system, code, message, status=status)


async def send(
    client: httpx.AsyncClient,
    system: str,
    request: httpx.Request,
    classify: Classifier,
) -> httpx.Response:
    """Send `request`; return the response on success or raise the taxonomy error for any failure.

    Each call is an OpenTelemetry client span (a no-op until the process configures an SDK/exporter) naming the
    vendor and, where the answer names one, the record id; inside saga work the request carries the saga's
    workflow id as `X-Correlation-Id` so the vendor's own logs can be joined to ours."""
    work = correlation.current()
    attributes: dict[str, str] = {
        "http.request.method": request.method,
        "url.path": request.url.path,
        "c2c.vendor": system,
    }
    if work.correlation_id:
        request.headers[correlation.CORRELATION_HEADER] = work.correlation_id
        attributes["c2c.correlation_id"] = work.correlation_id
    if work.stage:
        attributes["c2c.stage"] = work.stage
    gate = _gates.get(client)
    # The wait for the vendor's limit comes before the span: the span times the vendor, not our queue.
    async with gate.slot(system) if gate is not None else nullcontext():
        return await _traced(client, system, request, classify, attributes, gate)


async def _traced(
    client: httpx.AsyncClient,
    system: str,
    request: httpx.Request,
    classify: Classifier,
    attributes: dict[str, str],
    gate: Gate | None,
) -> httpx.Response:
    with _tracer.start_as_current_span(
        f"{system} {request.method}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        try:
            response = await _send(client, system, request, classify, gate)
        except ConnectorError as error:
            span.set_attribute("error.type", type(error).__name__)
            span.set_attribute("c2c.error_code", error.code)
            _log.debug(
                "%s %s %s failed: %s",
                system,
                request.method,
                request.url.path,
                error.code,
                extra={"c2c_vendor": system, "c2c_code": error.code},
            )
            raise
        span.set_attribute("http.response.status_code", response.status_code)
        logged = _log.isEnabledFor(logging.DEBUG)
        if not (logged or span.is_recording()):
            return response  # nobody reads the record id: not worth parsing the answer again (issue 16)
        record = record_id(response)
        if record:
            span.set_attribute("c2c.record_id", record)
        # Method, path and status only: bodies, query strings and headers may hold customer data or credentials.
        if logged:
            _log.debug(
                "%s %s %s -> %s",
                system,
                request.method,
                request.url.path,
                response.status_code,
                extra={"c2c_record": record, "c2c_vendor": system},
            )
        return response


def record_id(response: httpx.Response) -> str | None:
    """The vendor's id of the record an answer is about, where it names one: NetSuite's `Location` header,
    a JSON `id`/`Id` (Stripe, AvaTax, Salesforce records), or the single row of a Salesforce query.

    Token answers are skipped: their `id` (Salesforce's identity URL) is not a record."""
    location = response.headers.get("Location")
    if location:
        # urlsplit, not httpx.URL: a header may carry control characters (latin-1), which httpx refuses with
        # InvalidURL; the span attribute must never fail the call. The connector judges the Location itself.
        try:
            path = urlsplit(location).path
        except ValueError:  # e.g. an unbalanced "[" in the host
            return None
        return path.rstrip("/").rpartition("/")[2] or None
    if "json" not in response.headers.get("Content-Type", "") or len(response.content) > _MAX_SNIFFED_BODY:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict) or "access_token" in body:
        return None
    records = body.get("records")
    if isinstance(records, list) and len(records) == 1 and isinstance(records[0], dict):
        body = records[0]
    for key in ("id", "Id"):
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


async def _send(
    client: httpx.AsyncClient, system: str, request: httpx.Request, classify: Classifier, gate: Gate | None = None
) -> httpx.Response:
    try:
        response = await client.send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the server: safe to retry even for writes.
        raise TransientError(system, "connect_failed", f"{type(exc).__name__}: {exc}") from exc
    except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        detail = f"{request.method} {request.url.path}: {type(exc).__name__}"
        if request.method in WRITE_METHODS:
            raise UncertainOutcome(system, "outcome_unknown", detail) from exc
        raise TransientError(system, "read_failed", detail) from exc
    if response.is_success:
        return response
    if response.status_code == 429 and gate is not None:
        gate.throttled(system)
    error = classify(response)
    if error is None:
        return response
    raise error


def json_body(system: str, response: httpx.Response) -> Any:
    """Decode JSON with decimals kept exact (vendors send money as JSON numbers)."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise PermanentError(
            system, "bad_response", f"{response.status_code} body is not JSON", status=response.status_code
        ) from exc


def encode_json(value: Any) -> bytes:
    """JSON request body with Decimals as exact JSON numbers and dates as YYYY-MM-DD; floats refused.

    httpx's `json=` cannot send Decimal, and vendors take money as JSON numbers."""
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as a JSON number")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not sent where money flows; use Decimal")
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value)
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


async def client_credentials_token(
    client: httpx.AsyncClient, system: str, url: str, client_id: str, client_secret: str, classify: Classifier
) -> Any:
    """POST an OAuth2 client-credentials grant; the decoded token response.

    Issuing a token changes nothing we care about, so a lost answer is simply retryable."""
    request = client.build_request(
        "POST",
        url,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        headers={"Accept": "application/json"},
    )
    try:
        response = await send(client, system, request, classify)
    except UncertainOutcome as exc:
        raise TransientError(system, "token_unavailable", exc.message) from exc
    return json_body(system, response)


class CachedToken:
    """One cached OAuth access token per connector, fetched again `margin` seconds before it expires; `drop` forgets
    one the vendor refused (unless another request already replaced it). Subclasses fetch: (token, lifetime in s).
    `clock` is monotonic seconds (tests move it)."""

    def __init__(self, clock: Callable[[], float], margin: float = 60.0) -> None:
        self._clock, self._margin = clock, margin
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._token, lifetime = await self._fetch()
                self._refresh_at = self._clock() + max(0.0, lifetime - self._margin)
            return self._token

    async def drop(self, token: str) -> None:
        async with self._lock:
            if self._token == token:
                self._token = None

    async def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError
