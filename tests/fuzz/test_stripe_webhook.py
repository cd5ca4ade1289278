"""Fuzzing the billing webhook (`POST /webhooks/stripe`) with Stripe's own events: genuine events of the six
payment types (a dispute among them), taken from the Stripe emulator, are forged, broken or bent. Never a 5xx; a
broken event is a 400 naming the field; an event of another type is acknowledged and ignored; no saga is started
or signalled."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical import Money
from connectors.errors import BusinessRuleError
from connectors.stripe import StripeBilling
from connectors.stripe.wire import PAYMENT_NOTICE_TYPES
from tests.support.fuzz_surface import Surface
from tests.support.fuzzing import JSON_VALUES, TEXT, TRICKY_TEXT, api_error, body_of, fuzzing, names_one_of, signature
from tests.support.stripe import API_KEY, make_customer, make_invoice, subscribe

PATH = "/webhooks/stripe"
HEADER = "Stripe-Signature"
SECRET = "whsec_stripe_sandbox"  # the settings' default, which the surface uses (checked below)
TOLERANCE = 300


@dataclass(frozen=True)
class Genuine:
    """Events the Stripe emulator emitted for this module's payments, one list per notice type."""

    events: dict[str, list[dict[str, Any]]]
    saga: str  # the c2c_saga of the invoices that carry one: a saga that never existed

    def __repr__(self) -> str:
        return f"Genuine({ {kind: len(found) for kind, found in self.events.items()} })"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' pretty printer would list every field: the short repr instead."""
        printer.text(repr(self))

    def all(self) -> list[dict[str, Any]]:
        return [event for events in self.events.values() for event in events]


async def _paid_invoice(billing: StripeBilling, key: str, saga: str | None) -> tuple[str, str]:
    """A subscription's first invoice completed, finalized and paid by card: (invoice id, payment intent id)."""
    customer = make_customer(golden_id=f"gc_{key}")
    customer_id, subscription = await subscribe(billing, key, customer)
    invoice = make_invoice()
    if saga is not None:
        invoice = invoice.model_copy(update={"external_refs": {"c2c": saga}})
    draft = await billing.create_invoice(customer_id, subscription.id, invoice, idempotency_key=f"{key}:inv")
    invoice_id = draft.external_refs["stripe"]
    await billing.finalize_invoice(invoice_id, idempotency_key=f"{key}:finalize")
    try:
        payment = await billing.collect_payment(invoice_id, idempotency_key=f"{key}:pay")
    except BusinessRuleError:  # a declined card: the failure events are what we came for
        return invoice_id, ""
    return invoice_id, payment.external_refs.get("stripe", "")


@pytest.fixture(scope="module")
async def genuine(surface: Surface) -> Genuine:
    """Paid, declined, refunded and disputed invoices in the session's Stripe emulator, and the events it emitted."""
    url, tag = surface.urls["stripe"], uuid.uuid4().hex[:8]
    saga = f"c2c:salesforce:FUZZ-NEVER-STARTED-{tag}"
    async with httpx.AsyncClient(timeout=10) as http:
        card = StripeBilling(http, url, API_KEY)
        declined = StripeBilling(http, url, API_KEY, default_payment_method="pm_card_chargeDeclined")
        paid, intent = await _paid_invoice(card, f"fz{tag}a", saga)
        plain, _ = await _paid_invoice(card, f"fz{tag}b", None)  # an invoice no saga made
        failed, _ = await _paid_invoice(declined, f"fz{tag}c", saga)
        await card.refund(intent, Money(amount=100, currency="USD"), idempotency_key=f"fz{tag}:refund")
        charge = (await http.get(f"{url}/v1/invoices/{paid}", headers={"Authorization": f"Bearer {API_KEY}"})).json()
        (await http.post(f"{url}/_sandbox/disputes", json={"charge": charge["charge"]})).raise_for_status()
        listed = await http.get(
            f"{url}/v1/events", params={"limit": 100}, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        listed.raise_for_status()
    ours = {paid, plain, failed, intent}
    events: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PAYMENT_NOTICE_TYPES}
    for event in listed.json()["data"]:
        obj = event["data"]["object"]
        linked = {obj.get("id"), obj.get("invoice"), obj.get("payment_intent")}
        if event["type"] in events and linked & ours:
            events[event["type"]].append(event)
    assert all(events.values()), {kind: len(found) for kind, found in events.items()}
    return Genuine(events, saga)


async def post(surface: Surface, body: bytes, header: str | bytes | None) -> httpx.Response:
    headers = {b"Content-Type": b"application/json; charset=utf-8"}
    if header is not None:  # bytes: a header may carry any latin-1 character (httpx encodes str as ASCII)
        headers[HEADER.encode()] = header.encode() if isinstance(header, str) else header
    return await surface.http.post(PATH, content=body, headers=headers)


async def signed_post(surface: Surface, event: Any) -> httpx.Response:
    body = body_of(event)
    return await post(surface, body, signature(body, SECRET))


def fresh(event: dict[str, Any]) -> dict[str, Any]:
    """A copy under a new event id, so dedupe does not answer for an earlier case."""
    return copy.deepcopy(event) | {"id": f"evt_fuzz_{uuid.uuid4().hex}"}


# ---- signatures -----------------------------------------------------------------------------------------------

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120)


@st.composite
def forged(draw: st.DrawFn, events: list[dict[str, Any]]) -> tuple[bytes, bytes | None]:
    body = body_of(draw(st.one_of(st.sampled_from(events), JSON_VALUES)))
    now = time.time()
    kind = draw(st.sampled_from(["missing", "garbage", "wrong_secret", "stale", "other_body", "v0_only", "t_text"]))
    if kind == "missing":
        return body, None
    if kind == "garbage":
        return body, draw(HEADER_TEXT).encode("latin-1")
    if kind == "wrong_secret":
        secret = draw(st.text(min_size=1, max_size=40).filter(lambda s: s != SECRET))
        return body, signature(body, secret).encode()
    if kind == "stale":
        skew = draw(st.integers(min_value=TOLERANCE + 5, max_value=10**9)) * draw(st.sampled_from([-1, 1]))
        return body, signature(body, SECRET, at=now + skew).encode()
    if kind == "other_body":
        other = body + b" " if draw(st.booleans()) else body_of(draw(JSON_VALUES))
        return body, signature(other, SECRET).encode() if other != body else b"t=1,v1=00"
    if kind == "v0_only":  # Stripe's test-mode v0 scheme is never accepted
        return body, signature(body, SECRET).replace("v1=", "v0=").encode()
    return body, f"t={draw(HEADER_TEXT.filter(lambda t: ',' not in t))},v1=00".encode("latin-1")


@given(data=st.data())
@fuzzing(150)
async def test_forged_or_stale_signatures_are_400_naming_the_signature(
    surface: Surface, genuine: Genuine, data: st.DataObject
) -> None:
    assert surface.stripe_secret == SECRET
    body, header = data.draw(forged(genuine.all()))
    message = api_error(await post(surface, body, header), 400, "invalid_webhook")
    names_one_of(message, HEADER, "signature", "timestamp")
    await surface.nothing_changed()


# ---- signed, but broken ----------------------------------------------------------------------------------------

NOT_AN_ID = st.one_of(st.just(""), st.integers(), st.booleans(), st.lists(st.text(max_size=4), max_size=2))
NOT_AN_INT = st.one_of(st.none(), st.text(max_size=10), st.booleans(), st.floats(allow_nan=False), st.just([1]))
NOT_AN_OBJECT = st.one_of(st.none(), st.text(max_size=10), st.integers(), st.lists(st.integers(), max_size=2))
LINKS = {
    "invoice": ["payment_intent"],
    "payment_intent": ["invoice"],
    "charge": ["invoice", "payment_intent"],
    "dispute": ["payment_intent"],
}


@st.composite
def broken(draw: st.DrawFn, events: list[dict[str, Any]]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A genuine event with one field it is read by removed or given a value it cannot have; and the names
    the refusal may use for that field."""
    event = fresh(draw(st.sampled_from(events)))
    kind = PAYMENT_NOTICE_TYPES[event["type"]]
    obj = event["data"]["object"]
    target = draw(st.sampled_from(["id", "created", "data", "data.object", "object", "object.id", "link", "meta"]))
    if target == "id":
        event["id"] = draw(st.one_of(st.none(), NOT_AN_ID))
        return event, ("id",)
    if target == "created":
        if draw(st.booleans()):
            del event["created"]
        else:
            event["created"] = draw(NOT_AN_INT)
        return event, ("created",)
    if target == "data":
        event["data"] = draw(NOT_AN_OBJECT)
        return event, ("object",)
    if target == "data.object":
        event["data"] = {"object": draw(NOT_AN_OBJECT)}
        return event, ("object",)
    if target == "object":
        obj["object"] = draw(st.one_of(st.none(), TEXT).filter(lambda v: v != kind))
        return event, ("object", kind)
    if target == "object.id":
        obj["id"] = draw(st.one_of(st.none(), NOT_AN_ID))
        return event, ("id",)
    if target == "link":
        field = draw(st.sampled_from(LINKS[kind]))
        obj[field] = draw(st.one_of(NOT_AN_ID, NOT_AN_ID.map(lambda v: {"id": v, "object": field})))
        return event, (field,)
    obj["metadata"] = draw(st.one_of(st.text(max_size=10), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
    return event, ("metadata",)


@given(data=st.data())
@fuzzing(300)
async def test_signed_payment_events_with_a_broken_field_are_400_naming_it(
    surface: Surface, genuine: Genuine, data: st.DataObject
) -> None:
    event, names = data.draw(broken(genuine.all()))
    message = api_error(await signed_post(surface, event), 400, "invalid_webhook")
    names_one_of(message, *names)
    await surface.nothing_changed()


@given(body=st.one_of(JSON_VALUES.filter(lambda v: not isinstance(v, dict)), st.binary(max_size=100)))
@fuzzing(100)
async def test_signed_bodies_that_are_not_a_json_object_are_400(surface: Surface, body: Any) -> None:
    raw = body if isinstance(body, bytes) else body_of(body)
    response = await post(surface, raw, signature(raw, SECRET))
    if raw.strip().startswith(b"{"):  # random bytes that open an object: at most an event of no known type
        assert response.status_code in (200, 400), response.text
    else:
        names_one_of(api_error(response, 400, "invalid_webhook"), "JSON", "payload")
    await surface.nothing_changed()


@given(data=st.data(), event_type=st.one_of(TEXT, JSON_VALUES).filter(lambda t: str(t) not in PAYMENT_NOTICE_TYPES))
@fuzzing(150)
async def test_events_of_other_types_are_acknowledged_and_ignored(
    surface: Surface, genuine: Genuine, data: st.DataObject, event_type: Any
) -> None:
    event = fresh(data.draw(st.sampled_from(genuine.all()))) | {"type": event_type}
    if data.draw(st.booleans()):
        event["data"] = data.draw(JSON_VALUES)  # whatever it carries is not read
    response = await signed_post(surface, event)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    await surface.nothing_changed()


# ---- signed and well-formed ------------------------------------------------------------------------------------


@given(
    data=st.data(),
    event_id=st.one_of(st.text(min_size=1, max_size=60), TRICKY_TEXT.filter(lambda t: t != "\ud800")),
    created=st.integers(min_value=0, max_value=2**63),
    saga=st.one_of(st.none(), st.just("keep"), st.just("drop"), st.text(min_size=1, max_size=30).map("c2c:x:".__add__)),
)
@fuzzing(120)
async def test_genuine_events_redelivered_with_other_ids_and_times_signal_no_live_saga(
    surface: Surface, genuine: Genuine, data: st.DataObject, event_id: str, created: int, saga: str | None
) -> None:
    """Well-formed events for real invoices: the saga they name never ran, so nothing may change; a repeat of
    the same event id is a duplicate. `saga`: keep the invoice's metadata, drop it (the trigger reads the invoice),
    or claim another saga id."""
    event = copy.deepcopy(data.draw(st.sampled_from(genuine.all())))
    event |= {"id": f"{event_id}-{uuid.uuid4().hex}", "created": created}
    obj = event["data"]["object"]
    if saga == "drop":
        obj.pop("metadata", None)
    elif saga is not None and saga != "keep":
        obj["metadata"] = {"c2c_saga": saga}
    first = await signed_post(surface, event)
    assert first.status_code == 200, first.text
    assert first.json()["status"] in ("saga closed", "ignored: not a c2c invoice", "recorded"), first.text
    again = await signed_post(surface, event)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate"), again.text
    await surface.nothing_changed(signals_to_missing=True)


UNKNOWN_IDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=30
)


@given(which=st.integers(min_value=0, max_value=9), unknown=UNKNOWN_IDS)
@fuzzing(5, shrink=False)
async def test_events_naming_objects_stripe_does_not_know_are_not_a_server_error(
    surface: Surface, genuine: Genuine, which: int, unknown: str
) -> None:
    paid = genuine.events["invoice.paid"]
    event = fresh(paid[which % len(paid)])
    event["data"]["object"]["id"] = f"in_fuzz_{unknown}"
    event["data"]["object"]["metadata"] = {}
    response = await signed_post(surface, event)
    assert response.status_code < 500, response.text


# ---- bodies refused before they are read ---------------------------------------------------------------------


@given(extra=st.integers(min_value=1, max_value=10**9))
@fuzzing(20)
async def test_declared_oversized_bodies_are_413(surface: Surface, extra: int) -> None:
    size = surface.settings.max_body_bytes + extra

    async def never_read() -> AsyncIterator[bytes]:
        raise AssertionError("a body declared too large was read")
        yield b""  # pragma: no cover

    headers = {"Content-Type": "application/json", "Content-Length": str(size), HEADER: "t=1,v1=00"}
    response = await surface.http.post(PATH, content=never_read(), headers=headers)
    names_one_of(api_error(response, 413), "bytes", "body")
    await surface.nothing_changed()


@given(data=st.data(), media_type=st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "text/json"]))
@fuzzing(20)
async def test_bodies_that_are_not_json_are_415(
    surface: Surface, genuine: Genuine, data: st.DataObject, media_type: str
) -> None:
    body = body_of(fresh(data.draw(st.sampled_from(genuine.all()))))
    headers = {"Content-Type": media_type, HEADER: signature(body, SECRET)}
    response = await surface.http.post(PATH, content=body, headers=headers)
    names_one_of(api_error(response, 415), "Content-Type")
    await surface.nothing_changed()


async def test_after_the_fuzzing_nothing_runs_on_the_queue_and_the_api_still_serves(surface: Surface) -> None:
    await surface.no_workflows_on_queue()
    await surface.still_serving()
