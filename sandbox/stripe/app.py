"""The Stripe emulator app: `create_app(webhook_url=..., webhook_secret=..., async_settle_seconds=...)` -> FastAPI.

A subscription creates its first invoice (see `subscriptions`); invoices are never advanced on a timer, except on
a test clock (`/v1/test_helpers/test_clocks`, see `test_clocks`), whose advance renews subscriptions and finalizes
drafts as Stripe does, right after the advance request is answered.

Auth is `Authorization: Bearer sk_test_...`. Every POST may carry `Idempotency-Key`, handled as Stripe
does: the first outcome of an executed request (success or error, 402 declines included) is stored and
replayed for the same parameters (`Idempotent-Replayed: true`); other parameters get 400
`idempotency_error`; a request arriving while the first is still executing gets 409; requests that fail
parameter validation store nothing. Paying with a test bank account (`pm_usBankAccount_*`) answers with the
invoice open and its intent `processing`; the debit settles `async_settle_seconds` later (or at once with
`POST /_sandbox/settle`). A settled payment, by card at once or by bank debit then, emits `charge.succeeded`,
`payment_intent.succeeded`, `invoice.paid`, `invoice.payment_succeeded`; a failed one `charge.failed`,
`payment_intent.payment_failed`, `invoice.payment_failed`. Refunds emit `charge.refunded`.

Admin: `GET /_sandbox/state` (objects, events, `webhook_deliveries`, `webhook` = delivery config + pending count),
`POST /_sandbox/reset` (also drops undelivered webhooks), `POST /_sandbox/reset_idempotency`, `POST /_sandbox/settle`,
`POST /_sandbox/disputes` (`{"charge", "amount"?, "reason"?, "status"?}`: a bank disputes a charge, see `disputes`),
`POST /_sandbox/webhook` with a `DeliveryConfig` body: `{"url", "secret"}` re-point delivery; `secrets` (several
signatures, as during a secret roll), `duplicates`, `delay_seconds`, `reorder` + `reorder_window` + `seed` make
events arrive twice, late or shuffled (see `sandbox.stripe.webhooks`). Plus the fault endpoints of `sandbox.faults`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import install_faults
from sandbox.stripe import (
    amendments,
    catalog,
    credit_notes,
    disputes,
    dunning,
    intents,
    invoice_items,
    invoices,
    meters,
    payments,
    subscriptions,
    test_clocks,
)
from sandbox.stripe.bank_debits import settle_bank_debits
from sandbox.stripe.errors import InvalidParams, StripeError
from sandbox.stripe.forms import Params, parse_pairs
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.state import (
    API_VERSION,
    Call,
    IdempotencyRecord,
    StripeState,
    expand,
    frozen_at,
    render,
)
from sandbox.stripe.webhooks import DeliveryConfig, Dispatcher

Handler = Callable[..., dict[str, Any]]

NO_PARAMS: frozenset[str] = frozenset()


def list_events(call: Call) -> dict[str, Any]:
    """Newest first, filtered by `type` (or several `types[]`), paged like every list."""
    kinds = {kind for kind in [call.params.text("type"), *call.params.strings("types")] if kind}
    found = [event for event in call.state.events if not kinds or event["type"] in kinds]
    return page(call, "events", found, "/v1/events")


def get_event(call: Call, event_id: str) -> dict[str, Any]:
    for event in call.state.events:
        if event["id"] == event_id:
            return event
    raise StripeError(404, "invalid_request_error", f"No such event: '{event_id}'", code="resource_missing")


ROUTES: list[tuple[str, str, Handler, frozenset[str]]] = [
    ("POST", "/v1/customers", catalog.create_customer, catalog.CUSTOMER_CREATE),
    ("GET", "/v1/customers/search", catalog.search_customers, catalog.CUSTOMER_SEARCH),
    ("GET", "/v1/customers", catalog.list_customers, catalog.CUSTOMER_LIST),
    ("GET", "/v1/customers/{customer}", catalog.get_customer, NO_PARAMS),
    ("POST", "/v1/customers/{customer}", catalog.update_customer, catalog.CUSTOMER_UPDATE),
    ("POST", "/v1/products", catalog.create_product, catalog.PRODUCT_CREATE),
    ("GET", "/v1/products", catalog.list_products, catalog.PRODUCT_LIST),
    ("GET", "/v1/products/{product}", catalog.get_product, NO_PARAMS),
    ("POST", "/v1/prices", catalog.create_price, catalog.PRICE_CREATE),
    ("GET", "/v1/prices", catalog.list_prices, catalog.PRICE_LIST),
    ("GET", "/v1/prices/{price}", catalog.get_price, NO_PARAMS),
    ("POST", "/v1/subscriptions", subscriptions.create_subscription, subscriptions.SUBSCRIPTION_CREATE),
    ("GET", "/v1/subscriptions", subscriptions.list_subscriptions, subscriptions.SUBSCRIPTION_LIST),
    ("GET", "/v1/subscriptions/{subscription}", subscriptions.get_subscription, NO_PARAMS),
    ("POST", "/v1/subscriptions/{subscription}", amendments.update_subscription, amendments.SUBSCRIPTION_UPDATE),
    (
        "DELETE",
        "/v1/subscriptions/{subscription}",
        subscriptions.cancel_subscription,
        subscriptions.SUBSCRIPTION_CANCEL,
    ),
    ("POST", "/v1/invoiceitems", invoice_items.create_invoiceitem, invoice_items.INVOICEITEM_CREATE),
    ("GET", "/v1/invoiceitems", invoice_items.list_invoiceitems, invoice_items.INVOICEITEM_LIST),
    ("POST", "/v1/invoices", invoices.create_invoice, invoices.INVOICE_CREATE),
    ("GET", "/v1/invoices", invoices.list_invoices, invoices.INVOICE_LIST),
    ("GET", "/v1/invoices/{invoice}", invoices.get_invoice, NO_PARAMS),
    ("POST", "/v1/invoices/{invoice}", invoices.update_invoice, invoices.INVOICE_UPDATE),
    ("DELETE", "/v1/invoices/{invoice}", invoices.delete_invoice, NO_PARAMS),
    ("POST", "/v1/invoices/{invoice}/finalize", invoices.finalize_invoice, invoices.INVOICE_FINALIZE),
    ("POST", "/v1/invoices/{invoice}/pay", invoices.pay_invoice, invoices.INVOICE_PAY),
    ("POST", "/v1/invoices/{invoice}/void", invoices.void_invoice, invoices.INVOICE_VOID),
    ("POST", "/v1/invoices/{invoice}/send", dunning.send_invoice, dunning.INVOICE_SEND),
    (
        "POST",
        "/v1/invoices/{invoice}/mark_uncollectible",
        dunning.mark_uncollectible,
        dunning.INVOICE_MARK_UNCOLLECTIBLE,
    ),
    ("POST", "/v1/payment_intents", intents.create_payment_intent, intents.PAYMENT_INTENT_CREATE),
    ("GET", "/v1/payment_intents", intents.list_payment_intents, intents.PAYMENT_INTENT_LIST),
    ("GET", "/v1/payment_intents/{intent}", intents.get_payment_intent, frozenset({"client_secret"})),
    ("POST", "/v1/payment_intents/{intent}/confirm", intents.confirm_payment_intent, intents.PAYMENT_INTENT_CONFIRM),
    ("POST", "/v1/payment_intents/{intent}/cancel", intents.cancel_payment_intent, intents.PAYMENT_INTENT_CANCEL),
    ("GET", "/v1/charges", intents.list_charges, intents.CHARGE_LIST),
    ("GET", "/v1/charges/{charge}", intents.get_charge, NO_PARAMS),
    ("GET", "/v1/balance_transactions", intents.list_balance_transactions, intents.BALANCE_TRANSACTION_LIST),
    ("GET", "/v1/balance_transactions/{txn}", intents.get_balance_transaction, NO_PARAMS),
    ("POST", "/v1/refunds", payments.create_refund, payments.REFUND_CREATE),
    ("GET", "/v1/refunds", payments.list_refunds, payments.REFUND_LIST),
    ("GET", "/v1/refunds/{refund}", payments.get_refund, NO_PARAMS),
    ("GET", "/v1/disputes", disputes.list_disputes, disputes.DISPUTE_LIST),
    ("GET", "/v1/disputes/{dispute}", disputes.get_dispute, NO_PARAMS),
    ("POST", "/v1/credit_notes", credit_notes.create_credit_note, credit_notes.CREDIT_NOTE_CREATE),
    ("GET", "/v1/credit_notes", credit_notes.list_credit_notes, credit_notes.CREDIT_NOTE_LIST),
    ("GET", "/v1/credit_notes/{credit_note}", credit_notes.get_credit_note, NO_PARAMS),
    ("POST", "/v1/test_helpers/test_clocks", test_clocks.create_test_clock, test_clocks.TEST_CLOCK_CREATE),
    ("GET", "/v1/test_helpers/test_clocks", test_clocks.list_test_clocks, test_clocks.TEST_CLOCK_LIST),
    ("GET", "/v1/test_helpers/test_clocks/{test_clock}", test_clocks.get_test_clock, NO_PARAMS),
    ("DELETE", "/v1/test_helpers/test_clocks/{test_clock}", test_clocks.delete_test_clock, NO_PARAMS),
    (
        "POST",
        "/v1/test_helpers/test_clocks/{test_clock}/advance",
        test_clocks.advance_test_clock,
        test_clocks.TEST_CLOCK_ADVANCE,
    ),
    ("POST", "/v1/billing/meters", meters.create_meter, meters.METER_CREATE),
    ("GET", "/v1/billing/meters", meters.list_meters, meters.METER_LIST),
    ("GET", "/v1/billing/meters/{meter}", meters.get_meter, NO_PARAMS),
    (
        "GET",
        "/v1/billing/meters/{meter}/event_summaries",
        meters.list_event_summaries,
        meters.EVENT_SUMMARY_LIST,
    ),
    ("POST", "/v1/billing/meter_events", meters.create_meter_event, meters.METER_EVENT_CREATE),
    ("GET", "/v1/events", list_events, PAGING | {"type", "types"}),
    ("GET", "/v1/events/{event}", get_event, NO_PARAMS),
]


def _error(status: int, type_: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(StripeError(status, type_, message, **extra).body(), status_code=status)


def _auth_problem(header: str | None) -> str | None:
    """Why the request is not authenticated with a test secret key, or None."""
    if not header:
        return (
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            credential = base64.b64decode(credential).decode().partition(":")[0]
        except ValueError:
            credential = ""
    elif scheme.lower() != "bearer":
        credential = ""
    if credential.startswith("sk_test_") and len(credential) > len("sk_test_"):
        return None
    masked = f"{credential[:8]}{'*' * max(0, len(credential) - 12)}{credential[-4:]}" if credential else "''"
    return f"Invalid API Key provided: {masked}"


def _to_wire(state: StripeState, result: dict[str, Any], version: str) -> dict[str, Any]:
    if result.get("object") in ("list", "search_result"):
        return {**result, "data": [render(state, item, version) for item in result["data"]]}
    return render(state, result, version)


def create_app(
    webhook_url: str | None = None, webhook_secret: str = "whsec_stripe_sandbox", async_settle_seconds: float = 0.5
) -> FastAPI:
    app = FastAPI(title="Stripe emulator", openapi_url=None)
    state = StripeState()
    app.state.stripe = state
    webhooks = Dispatcher(state)
    webhooks.configure(DeliveryConfig(url=webhook_url, secret=webhook_secret))
    app.state.webhooks = webhooks
    background: set[asyncio.Task[None]] = set()
    install_faults(app)

    def spawn(work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        background.add(task)
        task.add_done_callback(background.discard)

    async def settle() -> None:
        async with state.lock:
            payments.settle_refunds(state)

    async def settle_debits_later(intent_ids: list[str]) -> None:
        await asyncio.sleep(async_settle_seconds)
        async with state.lock:
            events = settle_bank_debits(state, intent_ids)
        webhooks.submit(events)

    async def advance_clocks(clock_ids: list[str]) -> None:
        """Run the test clock advances a request started, once it has been answered (`advancing`)."""
        await asyncio.sleep(0)
        async with state.lock:
            debits_before = set(state.bank_debits)
            events = test_clocks.complete_advances(state, clock_ids)
            new_debits = [i for i in state.bank_debits if i not in debits_before]
        if new_debits:
            spawn(settle_debits_later(new_debits))
        webhooks.submit(events)

    # Added after the fault middleware, so it runs first: a key stays "in flight" while a fault delays it.
    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/v1/"):
            return await call_next(request)
        problem = _auth_problem(request.headers.get("Authorization"))
        if problem is not None:
            return _error(401, "invalid_request_error", problem)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if key is None:
            return await call_next(request)
        if key in state.in_flight and key not in state.idempotency:
            return _error(
                409,
                "idempotency_error",
                "There is currently another in-progress request using this Stripe Idempotency Key (that probably "
                f"means you submitted twice, and the other request is still going through): {key}. "
                "Please try again later.",
            )
        state.in_flight.add(key)
        try:
            return await call_next(request)
        finally:
            state.in_flight.discard(key)

    def endpoint_for(handler: Handler, allowed: frozenset[str]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.method == "GET":
                pairs = list(request.query_params.multi_items())
            else:
                pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            version = request.headers.get("Stripe-Version") or API_VERSION
            # Stripe echoes the key on every answer to a keyed request, refusals of its parameters included.
            headers = {"Stripe-Version": version, **({"Idempotency-Key": key} if key else {})}
            async with state.lock:
                debits_before = set(state.bank_debits)
                request_id = state.new_id("req", 14)
                headers["Request-Id"] = request_id
                fingerprint = json.dumps([request.method, request.url.path, sorted(pairs)])
                record = state.idempotency.get(key) if key else None
                if key and record is not None:
                    if record.fingerprint != fingerprint:
                        return _error(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request.",
                        )
                    headers.update({"Idempotent-Replayed": "true", "Original-Request": record.request_id})
                    return JSONResponse(record.body, status_code=record.status, headers=headers)
                try:
                    params = Params(parse_pairs(pairs), allowed)
                    call = Call(state, params, request_id, key, version)
                    # Objects of a customer on a test clock live on the clock's time.
                    with frozen_at(test_clocks.request_time(state, request.path_params.values(), params.values)):
                        result = handler(call, *request.path_params.values())
                    body = expand(state, _to_wire(state, result, version), params.strings("expand"), version)
                    status = 200
                except InvalidParams as exc:
                    state.outbox.clear()
                    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
                except StripeError as exc:
                    body, status = exc.body(), exc.status
                if key:
                    state.idempotency[key] = IdempotencyRecord(fingerprint, status, body, request_id)
                events = list(state.outbox)
                state.outbox.clear()
                if state.settling_refunds:
                    spawn(settle())
                new_debits = [i for i in state.bank_debits if i not in debits_before]
                if new_debits:
                    spawn(settle_debits_later(new_debits))
                if state.advancing:
                    spawn(advance_clocks(list(state.advancing)))
                    state.advancing.clear()
            webhooks.submit(events)
            return JSONResponse(body, status_code=status, headers=headers)

        return endpoint

    for method, path, handler, allowed in ROUTES:
        app.add_api_route(path, endpoint_for(handler, allowed), methods=[method], include_in_schema=False)

    @app.exception_handler(StarletteHTTPException)
    async def unknown_url(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            return _error(
                404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.url.path})."
            )
        return _error(exc.status_code, "api_error", str(exc.detail))

    @app.get("/_sandbox/state", include_in_schema=False)
    async def dump() -> dict[str, Any]:
        async with state.lock:
            return {**state.dump(), "webhook": webhooks.describe()}

    @app.post("/_sandbox/reset", include_in_schema=False)
    async def reset() -> dict[str, bool]:
        async with state.lock:
            state.reset()
            webhooks.reset()
        return {"reset": True}

    @app.post("/_sandbox/reset_idempotency", include_in_schema=False)
    async def forget_keys() -> dict[str, int]:
        """Forget stored idempotency keys, as Stripe does after 24 hours."""
        async with state.lock:
            forgotten = len(state.idempotency)
            state.idempotency.clear()
        return {"forgotten": forgotten}

    @app.post("/_sandbox/settle", include_in_schema=False)
    async def settle_now() -> dict[str, list[str]]:
        """Settle every processing bank debit now instead of on its timer."""
        async with state.lock:
            settled = list(state.bank_debits)
            events = settle_bank_debits(state)
        webhooks.submit(events)
        return {"settled": settled}

    @app.post("/_sandbox/disputes", include_in_schema=False)
    async def open_dispute(request: disputes.DisputeRequest) -> Response:
        """Open a dispute on a charge, as the cardholder's bank would, and send `charge.dispute.created`."""
        async with state.lock:
            try:
                dispute = disputes.open_dispute(state, request)
            except StripeError as exc:
                state.outbox.clear()
                return JSONResponse(exc.body(), status_code=exc.status)
            body = render(state, dispute)
            events = list(state.outbox)
            state.outbox.clear()
        webhooks.submit(events)
        return JSONResponse(body)

    @app.post("/_sandbox/webhook", include_in_schema=False)
    async def webhook(config: DeliveryConfig) -> dict[str, Any]:
        """Re-point and shape event delivery from now on (see `DeliveryConfig`); answers the effective config."""
        webhooks.configure(config)
        return webhooks.describe()

    return app
