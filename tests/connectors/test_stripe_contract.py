"""The connector's traffic with the emulator, checked against Stripe's published OpenAPI spec (2020-08-27).

Every operation we call must exist, every form/query parameter we send must be declared, and every
object the emulator returns must carry the schema's required fields and no undeclared ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from canonical import Money
from connectors.errors import BusinessRuleError
from connectors.stripe import StripeBilling
from sandbox.server import build_app
from tests.support.servers import serve_in_thread
from tests.support.stripe import API_KEY, make_customer, open_invoice, subscribe

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "stripe-openapi-2020-08-27.json"
if not SPEC_PATH.exists():
    pytest.skip(f"Stripe OpenAPI spec not found at {SPEC_PATH}", allow_module_level=True)

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
TEMPLATES = [
    (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path, path.count("{")) for path in SPEC["paths"]
]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def template_for(path: str) -> str | None:
    """The spec path a concrete path instantiates; literal segments win (`/customers/search`)."""
    matches = sorted((params, template) for pattern, template, params in TEMPLATES if pattern.match(path))
    return matches[0][1] if matches else None


def check(value: Any, schema: dict[str, Any], where: str, problems: list[str]) -> None:
    """Append to `problems` every way `value` departs from `schema` (required, declared, type, enum)."""
    schema = resolve(schema)
    if value is None:
        nullable = schema.get("nullable") or any(resolve(b).get("nullable") for b in schema.get("anyOf", []))
        if not nullable:
            problems.append(f"{where}: null but not nullable")
        return
    if "anyOf" in schema:
        attempts = []
        for branch in schema["anyOf"]:
            found: list[str] = []
            check(value, branch, where, found)
            if not found:
                return
            attempts.append(found)
        problems.extend(min(attempts, key=len))
        return
    kind = schema.get("type")
    if isinstance(value, dict):
        if kind not in (None, "object"):
            problems.append(f"{where}: object where the spec has {kind}")
            return
        properties = schema.get("properties")
        if properties is None:
            # Free-form object (metadata, event data.object): check a Stripe object by its `object` name.
            named = value.get("object")
            if isinstance(named, str) and named in SCHEMAS and schema.get("additionalProperties") is None:
                check(value, SCHEMAS[named], f"{where}<{named}>", problems)
            return
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: missing required field {name!r}")
        for name, item in value.items():
            if name not in properties:
                problems.append(f"{where}: undeclared field {name!r}")
            else:
                check(item, properties[name], f"{where}.{name}", problems)
    elif isinstance(value, list):
        if kind != "array":
            problems.append(f"{where}: array where the spec has {kind}")
            return
        for index, item in enumerate(value):
            check(item, schema.get("items", {}), f"{where}[{index}]", problems)
    else:
        expected = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}.get(kind or "")
        if expected is not None and (not isinstance(value, expected) or (kind != "boolean" and value is True)):
            problems.append(f"{where}: {value!r} is not {kind}")
        elif "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} not in {schema['enum']}")


class Recorder:
    """httpx event hooks keeping every exchange: request method, path, query and form names, response JSON."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[httpx.Request, int, Any]] = []

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        if response.request.url.path.startswith("/v1/"):
            self.exchanges.append((response.request, response.status_code, response.json()))


def top_level_names(pairs: list[tuple[str, str]]) -> set[str]:
    return {name.split("[", 1)[0] for name, _ in pairs}


@pytest.fixture(scope="module")
async def exchanges(emulators: Any) -> list[tuple[httpx.Request, int, Any]]:
    """Every connector method once (plus a decline and the event list), recorded."""
    url: str = emulators.url("stripe")
    recorder = Recorder()
    async with httpx.AsyncClient(timeout=5.0, event_hooks={"response": [recorder.on_response]}) as http:
        await http.post(f"{url}/_sandbox/reset")
        await http.delete(f"{url}/_sandbox/faults")
        billing = StripeBilling(http, url, API_KEY)
        customer_id, invoice = await open_invoice(billing, "contract")
        await billing.upsert_customer(
            make_customer(external_refs={"stripe": customer_id}), idempotency_key="contract:update"
        )
        await billing.search_customers_by_golden_id("gc_acme")
        invoice_id = invoice.external_refs["stripe"]
        payment = await billing.collect_payment(invoice_id, idempotency_key="contract:collect")
        await billing.refund(
            payment.external_refs["stripe"], Money(amount=1_00, currency="USD"), idempotency_key="contract:refund"
        )
        await billing.create_credit_note(
            invoice_id, Money(amount=2_00, currency="USD"), "order_change", idempotency_key="contract:cn"
        )
        _, second = await open_invoice(billing, "contract2")
        await billing.void_invoice(second.external_refs["stripe"], idempotency_key="contract2:void")
        subscription_id = str((await billing.get_invoice(invoice_id))["subscription"])
        await billing.cancel_subscription(subscription_id, idempotency_key="contract:cancel")
        _, unbilled = await subscribe(billing, "contract6", make_customer("gc_unbilled"))
        await billing.cancel_subscription(unbilled.id, idempotency_key="contract6:cancel")  # voids its draft
        declining = StripeBilling(http, url, API_KEY, default_payment_method="pm_card_chargeDeclined")
        _, third = await open_invoice(declining, "contract3", make_customer("gc_declined"))
        with pytest.raises(BusinessRuleError):
            await declining.collect_payment(third.external_refs["stripe"], idempotency_key="contract3:collect")
        _, dunned = await open_invoice(billing, "contract7", make_customer("gc_dunned"))
        dunned_id = dunned.external_refs["stripe"]
        await billing.send_invoice(dunned_id, idempotency_key="contract7:send")
        await billing.mark_uncollectible(dunned_id, idempotency_key="contract7:write-off")
        await billing.credit_invoice(dunned_id, "order_change", idempotency_key="contract7:credit")
        await http.get(f"{url}/v1/events", params={"limit": "100"}, headers={"Authorization": f"Bearer {API_KEY}"})
        await bank_debits(http)
    return recorder.exchanges


async def bank_debits(http: httpx.AsyncClient) -> None:
    """A bank debit that settles and one that fails, seen while processing and after, on an emulator that
    settles only when told (so the processing state is always observed)."""
    slow = serve_in_thread(build_app("stripe", async_settle_seconds=3600))
    try:
        debits = []
        for token, key in (("pm_usBankAccount", "contract4"), ("pm_usBankAccount_insufficientFunds", "contract5")):
            billing = StripeBilling(http, slow.url, API_KEY, default_payment_method=token)
            _, invoice = await open_invoice(billing, key, make_customer(f"gc_{key}"))
            await billing.collect_payment(invoice.external_refs["stripe"], idempotency_key=f"{key}:collect")
            debits.append((billing, invoice.external_refs["stripe"]))
        (await http.post(f"{slow.url}/_sandbox/settle")).raise_for_status()
        for billing, invoice_id in debits:
            await billing.payment_for_invoice(invoice_id)
        await http.get(f"{slow.url}/v1/events", headers={"Authorization": f"Bearer {API_KEY}"})
    finally:
        slow.stop()


def operation(request: httpx.Request) -> tuple[str | None, dict[str, Any]]:
    template = template_for(request.url.path)
    if template is None:
        return None, {}
    return template, SPEC["paths"][template].get(request.method.lower(), {})


def test_the_flow_covers_every_billing_operation(exchanges: list[tuple[httpx.Request, int, Any]]) -> None:
    called = {(request.method, template_for(request.url.path)) for request, _, _ in exchanges}
    assert called >= {
        ("POST", "/v1/customers"),
        ("POST", "/v1/customers/{customer}"),
        ("GET", "/v1/customers/search"),
        ("GET", "/v1/prices"),
        ("POST", "/v1/products"),
        ("POST", "/v1/prices"),
        ("POST", "/v1/subscriptions"),
        ("GET", "/v1/subscriptions/{subscription_exposed_id}"),
        ("DELETE", "/v1/subscriptions/{subscription_exposed_id}"),
        ("POST", "/v1/invoiceitems"),
        ("GET", "/v1/invoices/{invoice}"),
        ("POST", "/v1/invoices/{invoice}"),
        ("POST", "/v1/invoices/{invoice}/finalize"),
        ("POST", "/v1/invoices/{invoice}/pay"),
        ("POST", "/v1/invoices/{invoice}/void"),
        ("GET", "/v1/payment_intents/{intent}"),
        ("POST", "/v1/refunds"),
        ("POST", "/v1/credit_notes"),
        ("GET", "/v1/credit_notes"),
        ("POST", "/v1/invoices/{invoice}/send"),
        ("POST", "/v1/invoices/{invoice}/mark_uncollectible"),
        ("GET", "/v1/events"),
    }


def test_the_flow_never_creates_an_invoice_beside_the_subscriptions_own(
    exchanges: list[tuple[httpx.Request, int, Any]],
) -> None:
    assert not [r for r, _, _ in exchanges if (r.method, r.url.path) == ("POST", "/v1/invoices")]


def test_the_flow_sees_bank_debits_processing_then_settled_or_failed(
    exchanges: list[tuple[httpx.Request, int, Any]],
) -> None:
    intents = {body["status"] for _, _, body in exchanges if body.get("object") == "payment_intent"}
    events = {
        event["type"] for request, _, body in exchanges if request.url.path == "/v1/events" for event in body["data"]
    }
    assert intents >= {"processing", "succeeded", "requires_payment_method"}
    assert events >= {"payment_intent.processing", "payment_intent.succeeded", "payment_intent.payment_failed"}


def test_the_flow_sees_every_event_a_payment_or_dunning_emits(
    exchanges: list[tuple[httpx.Request, int, Any]],
) -> None:
    events = {
        event["type"] for request, _, body in exchanges if request.url.path == "/v1/events" for event in body["data"]
    }
    assert events >= {
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.sent",
        "invoice.marked_uncollectible",
    }


def test_every_operation_we_call_exists_in_the_spec(exchanges: list[tuple[httpx.Request, int, Any]]) -> None:
    missing = sorted(
        {f"{request.method} {request.url.path}" for request, _, _ in exchanges if not operation(request)[1]}
    )
    assert not missing, "\n".join(missing)


def test_every_parameter_we_send_is_declared_by_its_operation(
    exchanges: list[tuple[httpx.Request, int, Any]],
) -> None:
    problems = set()
    for request, _, _ in exchanges:
        template, op = operation(request)
        form = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
        declared_form = set(resolve(form.get("schema", {})).get("properties", {}))
        declared_query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        sent_form = top_level_names(parse_qsl(request.content.decode(), keep_blank_values=True))
        sent_query = top_level_names(list(request.url.params.multi_items()))
        problems |= {f"{request.method} {template}: form {name}" for name in sent_form - declared_form}
        problems |= {f"{request.method} {template}: query {name}" for name in sent_query - declared_query}
    assert not problems, "\n".join(sorted(problems))


def test_every_response_object_matches_the_spec_schema(exchanges: list[tuple[httpx.Request, int, Any]]) -> None:
    problems: list[str] = []
    statuses = set()
    for request, status, body in exchanges:
        _, op = operation(request)
        answer = op["responses"]["200" if status < 300 else "default"]
        where = f"{request.method} {request.url.path} -> {status}"
        check(body, answer["content"]["application/json"]["schema"], where, problems)
        statuses.add(status)
    assert statuses >= {200, 402}, "the flow should include a success and a decline"
    distinct = sorted({re.sub(r"\[\d+\]", "[]", re.sub(r"/[a-z]+_[A-Za-z0-9]{14,}", "/{id}", p)) for p in problems})
    assert not distinct, "\n".join(distinct)


def test_the_schema_check_reports_each_kind_of_departure() -> None:
    problems: list[str] = []
    customer = {"id": "cus_1", "object": "customer", "livemode": "no", "nickname": "x", "email": None}

    check(customer, SCHEMAS["customer"], "customer", problems)
    check({"id": "in_1", "status": "sent"}, {"$ref": "#/components/schemas/invoice"}, "invoice", problems)

    assert "customer: missing required field 'created'" in problems
    assert "customer: undeclared field 'nickname'" in problems
    assert "customer.livemode: 'no' is not boolean" in problems
    assert not any(p.startswith("customer.email") for p in problems)  # email is nullable
    assert any(p.startswith("invoice.status: 'sent' not in") for p in problems)
