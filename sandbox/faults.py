"""Fault injection shared by every emulator: scripted rules, latency, and a seeded random chaos profile.

Scripted rules: `POST /_sandbox/faults` with a JSON rule arms it; `DELETE /_sandbox/faults` disarms all.
Rule fields: method, path_prefix, path_suffix (optional, e.g. "/pay"), times (default 1) and one `kind`:
  status       answer `status` with `headers`/`body` instead of handling the request
  delay_after  handle the request (the write happens), then wait `seconds` before answering:
               with `seconds` above the client's timeout this is a lost response
  delay_before wait `seconds`, then handle the request normally
  reset        close the connection with a TCP reset instead of handling the request (nothing written)
  reset_after  handle the request (the write happens), then reset the connection instead of answering
`POST /_sandbox/latency {"seconds": s}` adds latency to every request (0 by default).

Chaos: `POST /_sandbox/chaos` with a `ChaosProfile` makes every vendor request draw one outcome from
`random.Random(seed)`: nothing, or one of `KINDS` with its rate. `GET /_sandbox/chaos` shows the profile and
the faults injected per kind (a new POST zeroes them); `DELETE /_sandbox/chaos` turns it off and keeps the counts.
A scripted rule that matches wins over the chaos draw. Never faulted: `/_sandbox/*` (the test's own view of
the vendor). OAuth token endpoints are faulted like any vendor call (a token request fails in real life too,
and the connectors treat it as retryable); narrow `paths` to leave them out.

5xx and 429 answers carry the vendor's own error envelope (chosen by the request's path), so each connector's
`classify` sees what the real vendor sends; 429 carries `Retry-After`.

`GET /_sandbox/requests` lists the vendor requests served (arrived, answered, method, path, status), for counting
requests per second and in flight as the vendor would; `DELETE /_sandbox/requests` clears the log.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]

KINDS = ("latency", "status_5xx", "status_429", "reset", "reset_after", "lost_response")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Where the outermost layer leaves the connection's transport for the fault middleware (see _capture_transport).
TRANSPORT_KEY = "sandbox.transport"


class FaultRule(BaseModel):
    method: str = "*"
    path_prefix: str = "/"
    path_suffix: str = ""
    kind: str = Field(pattern="^(status|delay_after|delay_before|reset|reset_after)$")
    status: int = 500
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    times: int = Field(default=1, ge=1)


class Latency(BaseModel):
    seconds: float = Field(ge=0)


class ChaosRates(BaseModel):
    """Probability per request of each fault; at most one fault per request, so they sum to at most 1."""

    latency: float = Field(default=0.0, ge=0, le=1)
    status_5xx: float = Field(default=0.0, ge=0, le=1)
    status_429: float = Field(default=0.0, ge=0, le=1)
    reset: float = Field(default=0.0, ge=0, le=1)
    reset_after: float = Field(default=0.0, ge=0, le=1)
    lost_response: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _at_most_one(self) -> ChaosRates:
        if sum(self.model_dump().values()) > 1:
            raise ValueError("the rates sum to more than 1")
        return self

    @classmethod
    def uniform(cls, rate: float) -> ChaosRates:
        """Every kind at `rate`."""
        return cls(**dict.fromkeys(KINDS, rate))


class ChaosProfile(BaseModel):
    seed: int
    rates: ChaosRates = Field(default_factory=ChaosRates)
    latency_seconds: float = Field(default=0.5, ge=0)
    # Must exceed the client's read timeout for the response to be lost rather than late.
    lost_response_seconds: float = Field(default=15.0, ge=0)
    retry_after_seconds: int = Field(default=1, ge=0)
    paths: list[str] | None = Field(default=None, description="only requests whose path starts with one of these")


@dataclass
class Chaos:
    """An armed chaos profile: its generator and what it has injected so far."""

    profile: ChaosProfile
    rng: random.Random
    requests: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    injected_writes: Counter[str] = field(default_factory=Counter)
    enabled: bool = True

    @classmethod
    def start(cls, profile: ChaosProfile) -> Chaos:
        return cls(profile, random.Random(profile.seed))

    def draw(self, method: str, path: str) -> str | None:
        """The fault this request gets, if any; one draw per request that the profile covers."""
        if not self.enabled or (self.profile.paths is not None and not path.startswith(tuple(self.profile.paths))):
            return None
        self.requests += 1
        roll = self.rng.random()
        rates = self.profile.rates
        for kind in KINDS:
            roll -= getattr(rates, kind)
            if roll < 0:
                self.injected[kind] += 1
                if method in WRITE_METHODS:
                    self.injected_writes[kind] += 1
                return kind
        return None

    def report(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "profile": self.profile.model_dump(),
            "requests": self.requests,
            "injected": {kind: self.injected[kind] for kind in KINDS},
            "injected_writes": {kind: self.injected_writes[kind] for kind in KINDS},
        }


@dataclass
class FaultBox:
    rules: list[FaultRule] = field(default_factory=list)
    latency: float = 0.0
    hits: int = 0
    chaos: Chaos | None = None
    # Every vendor request served: (arrived, answered, method, path, status), epoch seconds; the rate-limit tests
    # and the bench count requests per second and in flight from it (GET /_sandbox/requests).
    log: deque[tuple[float, float, str, str, int]] = field(default_factory=lambda: deque(maxlen=200_000))

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first armed rule matching the request, consuming one of its `times`."""
        for rule in self.rules:
            if rule.method in ("*", method) and path.startswith(rule.path_prefix) and path.endswith(rule.path_suffix):
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
                self.hits += 1
                return rule
        return None

    def arm_chaos(self, profile: ChaosProfile) -> Chaos:
        self.chaos = Chaos.start(profile)
        return self.chaos


# ---- the vendors' error envelopes ------------------------------------------------------------------------


def vendor_error(path: str, status: int) -> dict[str, Any] | list[dict[str, Any]]:
    """A 5xx or 429 body in the format of the vendor that serves `path`."""
    busy = status == 429
    if path.startswith("/v1/"):  # Stripe
        if busy:
            message = "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."
            return {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": message}}
        return {"error": {"type": "api_error", "message": "An unknown error occurred. Please try again."}}
    if path.startswith("/services/rest"):  # NetSuite: RFC 9457 with o:errorDetails
        title = "Too Many Requests" if busy else "Service Unavailable" if status == 503 else "Internal Server Error"
        code = "CONCURRENCY_LIMIT_EXCEEDED" if busy else "UNEXPECTED_ERROR"
        detail = (
            "Concurrent request limit exceeded. Request blocked."
            if busy
            else "An unexpected error occurred. Error ID: sandbox-chaos"
        )
        section = "15.5.20" if busy else "15.6.4" if status == 503 else "15.6.1"
        return {
            "type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}",
            "title": title,
            "status": status,
            "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
        }
    if path.startswith("/services/"):  # Salesforce: an array of {message, errorCode}
        if busy:
            return [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        return [{"message": "Server temporarily unavailable, please retry.", "errorCode": "SERVER_UNAVAILABLE"}]
    if path.startswith("/api/v2"):  # AvaTax ErrorResult
        code = "TooManyRequests" if busy else "ServerUnreachable"
        message = "Too many requests: slow down and retry." if busy else "AvaTax is temporarily unavailable."
        entry = {"code": code, "message": message, "description": message, "faultCode": "Server", "severity": "Error"}
        return {"error": {"code": code, "message": message, "target": "HttpRequest", "details": [entry]}}
    if path.startswith("/api.xro/"):  # Xero: a problem body (the 429's headers say which limit)
        title = "Too Many Requests" if busy else "Internal Server Error"
        return {"Title": title, "Status": status, "Detail": "Rate limit exceeded" if busy else "An error occurred"}
    if path.startswith(("/crm/", "/oauth/")):  # HubSpot: status/message/correlationId/category
        message = "You have reached your ten_secondly_rolling limit." if busy else "internal error"
        body = {"status": "error", "message": message, "correlationId": "sandbox-chaos"}
        if busy:
            return body | {"category": "RATE_LIMITS", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
        return body | {"category": "INTERNAL_ERROR"}
    return {"error": {"code": "too_many_requests" if busy else "server_error", "message": f"HTTP {status}"}}


# ---- connection resets -----------------------------------------------------------------------------------


def _capture_transport(app: FastAPI) -> None:
    """Wrap the app's whole middleware stack in a layer that records the connection's asyncio transport.

    ASGI gives an app no way to drop a connection; uvicorn's `receive` is a bound method of the request cycle,
    which holds the transport. Only the outermost layer sees uvicorn's own `receive` (middlewares such as
    Stripe's key gate wrap it), so this layer is added around everything once the stack is built."""
    build = app.build_middleware_stack

    def build_with_capture() -> ASGIApp:
        inner: ASGIApp = build()

        async def capture(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                transport = _transport_of(receive)
                if transport is not None:
                    scope[TRANSPORT_KEY] = transport
            await inner(scope, receive, send)

        return capture

    setattr(app, "build_middleware_stack", build_with_capture)  # noqa: B010 - mypy refuses assigning a method


async def reset_connection(request: Request) -> Response:
    """Drop the client's connection with a TCP RST; the returned response is never sent.

    SO_LINGER 0 makes close() send RST instead of FIN, so the client sees "connection reset by peer", as when
    a load balancer or the vendor's server dies mid-request."""
    transport = request.scope.get(TRANSPORT_KEY)
    if transport is None:
        raise RuntimeError("no transport to reset: the emulator must be served by uvicorn")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn see the connection lost, so it sends nothing more on it
    return Response(status_code=499)


async def _handled(call_next: Any, request: Request) -> Response:
    """Run the request to completion (its write applied) and return its response."""
    response: Response = await call_next(request)
    body = getattr(response, "body_iterator", None)
    if body is not None:
        chunks = [chunk async for chunk in body]
        response = Response(b"".join(chunks), response.status_code, dict(response.headers))
    return response


# ---- the endpoints and the middleware -------------------------------------------------------------------


def _transport_of(receive: Any, depth: int = 3) -> Any:
    """uvicorn's connection transport behind `receive` (its request cycle's bound method). FastAPI wraps `receive`
    in a closure once OpenTelemetry is configured in the process, so look through a few closures for it."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None or depth == 0:
        return transport
    for cell in getattr(receive, "__closure__", None) or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(contents):
            transport = _transport_of(contents, depth - 1)
            if transport is not None:
                return transport
    return None


def install_faults(app: FastAPI, error_body: Callable[[str, int], Any] | None = None) -> FaultBox:
    """Add the fault admin endpoints and middleware to an emulator app; `error_body(path, status)` gives the
    vendor's 5xx / 429 body where `vendor_error` cannot tell the vendor by the path (Chargebee and AvaTax share
    `/api/v2`)."""
    bodies = error_body or vendor_error
    box = FaultBox()
    app.state.faults = box
    _capture_transport(app)

    @app.post("/_sandbox/faults", include_in_schema=False)
    async def arm(rule: FaultRule) -> dict[str, int]:
        box.rules.append(rule)
        return {"armed": len(box.rules)}

    @app.delete("/_sandbox/faults", include_in_schema=False)
    async def disarm() -> dict[str, int]:
        box.rules.clear()
        return {"armed": 0}

    @app.post("/_sandbox/latency", include_in_schema=False)
    async def set_latency(latency: Latency) -> dict[str, float]:
        box.latency = latency.seconds
        return {"seconds": box.latency}

    @app.post("/_sandbox/chaos", include_in_schema=False)
    async def arm_chaos(profile: ChaosProfile) -> dict[str, Any]:
        return box.arm_chaos(profile).report()

    @app.get("/_sandbox/chaos", include_in_schema=False)
    async def chaos_report() -> dict[str, Any]:
        return box.chaos.report() if box.chaos else {"enabled": False, "requests": 0, "injected": {}}

    @app.delete("/_sandbox/chaos", include_in_schema=False)
    async def disarm_chaos() -> dict[str, Any]:
        if box.chaos is None:
            return {"enabled": False, "requests": 0, "injected": {}}
        box.chaos.enabled = False
        return box.chaos.report()

    @app.get("/_sandbox/requests", include_in_schema=False)
    async def requests_served() -> dict[str, Any]:
        keys = ("arrived", "answered", "method", "path", "status")
        return {"requests": [dict(zip(keys, entry, strict=True)) for entry in box.log]}

    @app.delete("/_sandbox/requests", include_in_schema=False)
    async def forget_requests() -> dict[str, int]:
        box.log.clear()
        return {"requests": 0}

    @app.middleware("http")
    async def logged(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if path.startswith("/_sandbox"):
            return await call_next(request)
        arrived = time.time()
        response: Response = await inject(request, call_next)
        box.log.append((arrived, time.time(), request.method, path, response.status_code))
        return response

    async def inject(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if box.latency:
            await asyncio.sleep(box.latency)
        rule = box.take(request.method, path)
        if rule is not None:
            return await _apply_rule(rule, request, call_next)
        kind = box.chaos.draw(request.method, path) if box.chaos else None
        if box.chaos is None or kind is None:
            return await call_next(request)
        return await _apply_chaos(kind, box.chaos, request, call_next, bodies)

    return box


async def _apply_rule(rule: FaultRule, request: Request, call_next: Any) -> Response:
    if rule.kind == "status":
        return JSONResponse(rule.body, status_code=rule.status, headers=rule.headers)
    if rule.kind == "reset":
        return await reset_connection(request)
    if rule.kind == "delay_before":
        await asyncio.sleep(rule.seconds)
        return await call_next(request)
    response = await _handled(call_next, request)
    if rule.kind == "reset_after":
        return await reset_connection(request)
    await asyncio.sleep(rule.seconds)
    return response


async def _apply_chaos(
    kind: str, chaos: Chaos, request: Request, call_next: Any, bodies: Callable[[str, int], Any] = vendor_error
) -> Response:
    path, profile = request.url.path, chaos.profile
    if kind == "latency":
        await asyncio.sleep(profile.latency_seconds)
        return await call_next(request)
    if kind in ("status_5xx", "status_429"):
        status = 429 if kind == "status_429" else chaos.rng.choice((500, 502, 503))
        headers = {"Retry-After": str(profile.retry_after_seconds)} if status == 429 else {}
        return JSONResponse(bodies(path, status), status_code=status, headers=headers)
    if kind == "reset":
        return await reset_connection(request)
    response = await _handled(call_next, request)
    if kind == "reset_after":
        return await reset_connection(request)
    await asyncio.sleep(profile.lost_response_seconds)  # lost_response: the client gives up first
    return response
