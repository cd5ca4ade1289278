"""Chargebee emulator: API v2 under `/api/v2` for one site, product catalog 2.0.

Auth is HTTP basic with the API key as the username (`API_KEY`; a wrong one: 401 `api_authentication_failed`).
Bodies are form-encoded in bracket notation, answers JSON: one record under its name (`{"customer": {...}}`), lists
as `{"list": [{"invoice": {...}}], "next_offset": "..."}` (sandbox/chargebee/wire.py). Every POST takes a
`chargebee-idempotency-key` (up to 100 characters): the first answer (2xx or 4xx) is kept and a repeat with the same
key and body gets it again with `chargebee-idempotency-replayed: true`; the same key with another body is refused.
Past the configured calls per minute: 429 `api_request_limit_exceeded` with Retry-After. Events go to the
configured webhook with basic auth (sandbox/chargebee/webhooks.py). The site's time is the time machine's
(sandbox/chargebee/time_machine.py): what fell due since the last request (renewals, term ends) runs first.

Admin: `GET /_sandbox/state`, `POST /_sandbox/reset`, `POST /_sandbox/reset_idempotency` (the window passed),
`POST /_sandbox/limits {"minute"}`, `POST /_sandbox/webhook` (WebhookConfig), `GET /_sandbox/webhook/attempts`,
`POST /_sandbox/disputes` (a bank disputes a payment: sandbox/chargebee/refunds.py).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from sandbox.chargebee import billing, catalog, changes, credit_notes, refunds, time_machine, wire
from sandbox.chargebee.state import Record, Site, site_time
from sandbox.chargebee.webhooks import Dispatcher, WebhookConfig
from sandbox.chargebee.wire import ApiError
from sandbox.faults import install_faults

API = "/api/v2"
API_KEY = "test_c2c_chargebee_key"
SITE = "c2c-test"
IDEMPOTENCY_HEADER = "chargebee-idempotency-key"
REPLAYED_HEADER = "chargebee-idempotency-replayed"
MAX_KEY_LENGTH = 100

Handler = Callable[[Site, dict[str, str], Record], Record]


class Limits(BaseModel):
    minute: int | None = None


def _retrieve(collection: str, kind: str) -> Handler:
    def handler(site: Site, ids: dict[str, str], query: Record) -> Record:
        record = catalog.get(getattr(site, collection), kind, ids["id"])
        if kind == "subscription":
            return {"subscription": record, "customer": site.customers[record["customer_id"]]}
        return {kind: record}

    return handler


def _list(collection: str, kind: str, filters: tuple[str, ...]) -> Handler:
    def handler(site: Site, ids: dict[str, str], query: Record) -> Record:
        records = [r for r in getattr(site, collection).values() if not r.get("deleted")]
        return wire.listed(records, query, kind, filters)

    return handler


def _one(kind: str, make: Callable[[Site, Record], Record]) -> Handler:
    return lambda site, ids, form: {kind: make(site, form)}


def _on_invoice(action: Callable[[Site, str, Record], Record]) -> Handler:
    return lambda site, ids, form: {"invoice": action(site, ids["id"], form)}


def _payment(kind: str) -> Handler:
    def handler(site: Site, ids: dict[str, str], form: Record) -> Record:
        if kind == "record":
            transaction = billing.record_payment(site, ids["id"], form)
        else:
            invoice = catalog.get(site.invoices, "invoice", ids["id"])
            transaction = billing.charge(site, invoice, wire.integer(form, "amount", low=1, high=10**13))
        return {"invoice": site.invoices[ids["id"]], "transaction": transaction}

    return handler


_ID = r"(?P<id>[^/]{1,100})"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"customers"), _list("customers", "customer", ("id", "email", "company", "created_at"))),
    ("POST", re.compile(r"customers"), _one("customer", catalog.create_customer)),
    ("GET", re.compile(rf"customers/{_ID}"), _retrieve("customers", "customer")),
    (
        "POST",
        re.compile(rf"customers/{_ID}"),
        lambda site, ids, form: {"customer": catalog.update_customer(site, ids["id"], form)},
    ),
    (
        "POST",
        re.compile(rf"customers/{_ID}/subscription_for_items"),
        lambda site, ids, form: billing.create_with_items(site, ids["id"], form),
    ),
    ("POST", re.compile(r"item_families"), _one("item_family", catalog.create_item_family)),
    ("GET", re.compile(rf"item_families/{_ID}"), _retrieve("item_families", "item_family")),
    ("POST", re.compile(r"items"), _one("item", catalog.create_item)),
    ("GET", re.compile(r"items"), _list("items", "item", ("id", "type", "item_family_id", "status"))),
    ("GET", re.compile(rf"items/{_ID}"), _retrieve("items", "item")),
    ("POST", re.compile(r"item_prices"), _one("item_price", catalog.create_item_price)),
    (
        "GET",
        re.compile(r"item_prices"),
        _list("item_prices", "item_price", ("id", "item_id", "item_type", "currency_code", "status", "period_unit")),
    ),
    ("GET", re.compile(rf"item_prices/{_ID}"), _retrieve("item_prices", "item_price")),
    (
        "GET",
        re.compile(r"subscriptions"),
        _list("subscriptions", "subscription", ("id", "customer_id", "status", "created_at")),
    ),
    ("GET", re.compile(rf"subscriptions/{_ID}"), _retrieve("subscriptions", "subscription")),
    (
        "POST",
        re.compile(rf"subscriptions/{_ID}"),
        lambda site, ids, form: billing.update_subscription(site, ids["id"], form),
    ),
    (
        "POST",
        re.compile(rf"subscriptions/{_ID}/cancel_for_items"),
        lambda site, ids, form: billing.cancel(site, ids["id"], form),
    ),
    (
        "GET",
        re.compile(r"invoices"),
        _list("invoices", "invoice", ("id", "customer_id", "subscription_id", "status", "date", "recurring")),
    ),
    ("GET", re.compile(rf"invoices/{_ID}"), _retrieve("invoices", "invoice")),
    ("POST", re.compile(rf"invoices/{_ID}/add_charge"), _on_invoice(billing.add_charge)),
    ("POST", re.compile(rf"invoices/{_ID}/close"), _on_invoice(billing.close)),
    ("POST", re.compile(rf"invoices/{_ID}/void"), _on_invoice(billing.void)),
    ("POST", re.compile(rf"invoices/{_ID}/write_off"), _on_invoice(credit_notes.write_off)),
    ("POST", re.compile(rf"invoices/{_ID}/collect_payment"), _payment("collect")),
    ("POST", re.compile(rf"invoices/{_ID}/record_payment"), _payment("record")),
    (
        "POST",
        re.compile(rf"invoices/{_ID}/refund"),
        lambda site, ids, form: refunds.refund_invoice(site, ids["id"], form),
    ),
    ("POST", re.compile(r"credit_notes"), lambda site, ids, form: credit_notes.create_credit_note(site, form)),
    (
        "POST",
        re.compile(rf"credit_notes/{_ID}/refund"),
        lambda site, ids, form: refunds.refund_credit_note(site, ids["id"], form),
    ),
    (
        "GET",
        re.compile(r"credit_notes"),
        _list(
            "credit_notes",
            "credit_note",
            ("id", "customer_id", "subscription_id", "reference_invoice_id", "type", "status", "date"),
        ),
    ),
    ("GET", re.compile(rf"credit_notes/{_ID}"), _retrieve("credit_notes", "credit_note")),
    (
        "GET",
        re.compile(r"transactions"),
        _list(
            "transactions",
            "transaction",
            ("id", "customer_id", "subscription_id", "status", "payment_method", "type", "date"),
        ),
    ),
    ("GET", re.compile(rf"transactions/{_ID}"), _retrieve("transactions", "transaction")),
    ("GET", re.compile(r"disputes"), refunds.list_disputes),
    ("GET", re.compile(rf"disputes/{_ID}"), refunds.get_dispute),
    ("GET", re.compile(r"comments"), refunds.list_comments),
    ("GET", re.compile(r"events"), _list("events", "event", ("id", "event_type", "occurred_at"))),
    # renewals and amendments (sandbox/chargebee/time_machine.py, changes.py)
    (
        "POST",
        re.compile(rf"subscriptions/{_ID}/update_for_items"),
        lambda site, ids, form: changes.update_for_items(site, ids["id"], form),
    ),
    ("GET", re.compile(r"unbilled_charges"), changes.list_unbilled),
    ("POST", re.compile(r"unbilled_charges/invoice_unbilled_charges"), changes.invoice_unbilled),
    ("GET", re.compile(rf"time_machines/{_ID}"), time_machine.retrieve),
    ("POST", re.compile(rf"time_machines/{_ID}/start_afresh"), time_machine.start_afresh),
    ("POST", re.compile(rf"time_machines/{_ID}/travel_forward"), time_machine.travel_forward),
]


def route(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler of `method /api/v2/{path}` and the ids in its path."""
    for allowed, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and allowed == method:
            return handler, match.groupdict()
    return None


def _answer(body: Record, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _error(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    return _answer(error.body(), error.status, headers)


def rate_limited() -> ApiError:
    message = (
        "Sorry, access has been blocked temporarily due to request count exceeding acceptable limits. "
        "Please try after some time."
    )
    return ApiError(429, "api_request_limit_exceeded", message, type_=None)


def vendor_error(path: str, status: int) -> Record:
    """A 5xx or 429 body as Chargebee sends it (for sandbox/faults.py's chaos answers)."""
    if status == 429:
        return rate_limited().body()
    code = "internal_temporary_error" if status == 503 else "internal_error"
    return ApiError(status, code, "Sorry, something went wrong when trying to process the request.", type_=None).body()


def create_app(api_key: str = API_KEY, site_name: str = SITE, webhook_url: str | None = None) -> FastAPI:
    app = FastAPI(title="Chargebee emulator")
    install_faults(app, error_body=vendor_error)
    site = Site(site_name)
    replays: dict[str, tuple[tuple[str, bytes], int, bytes]] = {}
    limits = Limits()
    calls: Counter[int] = Counter()
    dispatcher = Dispatcher(WebhookConfig(url=webhook_url))
    app.state.site = site

    @app.post("/_sandbox/reset")
    async def sandbox_reset() -> Record:
        nonlocal site
        site = Site(site_name)
        app.state.site = site
        replays.clear()
        calls.clear()
        return {"ok": True}

    @app.get("/_sandbox/state")
    async def sandbox_state() -> Record:
        names = ("customers", "items", "item_prices", "subscriptions", "invoices", "credit_notes", "transactions")
        unbilled = [changes.public(charge) for charge in site.unbilled_charges.values()]
        with site_time(site.clock_offset):
            machine = time_machine.time_machine(site)
        found = {name: list(getattr(site, name).values()) for name in names}
        found |= {"disputes": list(site.disputes.values()), "comments": site.comments}
        return found | {"unbilled_charges": unbilled, "time_machine": machine, "events": site.events}

    @app.post("/_sandbox/reset_idempotency")
    async def sandbox_forget() -> Record:
        replays.clear()
        return {"ok": True}

    @app.post("/_sandbox/limits")
    async def sandbox_limits(new: Limits) -> Record:
        limits.minute = new.minute
        calls.clear()
        return new.model_dump()

    @app.post("/_sandbox/disputes")
    async def sandbox_dispute(request: refunds.DisputeRequest) -> Response:
        """A cardholder's bank disputes a payment (no API creates one; Chargebee documents no event for it)."""
        try:
            return _answer({"dispute": refunds.open_dispute(site, request)})
        except ApiError as error:
            return _error(error)

    @app.post("/_sandbox/webhook")
    async def sandbox_webhook(config: WebhookConfig) -> Record:
        dispatcher.config = config
        return config.model_dump(exclude={"password"})

    @app.get("/_sandbox/webhook/attempts")
    async def sandbox_attempts() -> list[dict[str, Any]]:
        return dispatcher.attempts

    def refusal(request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        username = ""
        if header.startswith("Basic "):
            try:
                username = base64.b64decode(header[6:], validate=True).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                username = ""
        if username != api_key:
            error = ApiError(
                401, "api_authentication_failed", "Sorry, authentication failed. Invalid api key", type_=None
            )
            return _error(error)
        minute = int(time.time() // 60)
        calls[minute] += 1
        if limits.minute is not None and calls[minute] > limits.minute:
            retry = str(60 - int(time.time() % 60))
            return _error(rate_limited(), {"Retry-After": retry})
        return None

    @app.api_route(API + "/{path:path}", methods=["GET", "POST"])
    async def api(path: str, request: Request) -> Response:
        refused = refusal(request)
        if refused is not None:
            return refused
        found = route(request.method, path)
        if found is None:
            return _error(ApiError(404, "resource_not_found", f"Sorry, we couldn't find {request.method} /{path}"))
        handler, ids = found
        raw = await request.body() if request.method == "POST" else request.url.query.encode()
        key = request.headers.get(IDEMPOTENCY_HEADER) if request.method == "POST" else None
        if key is not None:
            if not 0 < len(key) <= MAX_KEY_LENGTH:
                return _error(wire.wrong_value(IDEMPOTENCY_HEADER, f"{IDEMPOTENCY_HEADER} : 1 to 100 characters"))
            kept = replays.get(key)
            if kept is not None:
                if kept[0] != (path, raw):
                    message = "The idempotency key was already used with other parameters"
                    return _error(wire.wrong_value(IDEMPOTENCY_HEADER, message))
                return Response(kept[2], kept[1], media_type="application/json", headers={REPLAYED_HEADER: "true"})
        events_before = len(site.events)
        with site_time(site.clock_offset):
            time_machine.run_due(site, time_machine.now())  # what fell due since the last request
            try:
                response = _answer(handler(site, ids, wire.parse_form(raw)))
            except ApiError as error:
                response = _error(error)
        if key is not None:
            replays[key] = ((path, raw), response.status_code, bytes(response.body))
        for event in site.events[events_before:]:
            dispatcher.deliver(event)
        return response

    return app
