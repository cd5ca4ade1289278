"""What the emulated Stripe account holds, in memory: objects by id, events, idempotency records."""

from __future__ import annotations

import asyncio
import copy
import secrets
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sandbox.stripe.errors import InvalidParams, no_such
from sandbox.stripe.forms import Params

API_VERSION = "2020-08-27"

# Collection (state dump key) -> the `object` value Stripe gives its members.
COLLECTIONS: dict[str, str] = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "subscriptions": "subscription",
    "invoiceitems": "invoiceitem",
    "invoices": "invoice",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "balance_transactions": "balance_transaction",
    "refunds": "refund",
    "credit_notes": "credit_note",
    "disputes": "dispute",
    "test_clocks": "test_helpers.test_clock",
    "billing_meters": "billing.meter",
}
_KIND_NAMES = {
    "invoiceitem": "invoice item",
    "payment_intent": "payment_intent",
    "credit_note": "credit note",
    "test_helpers.test_clock": "test_clock",
    "billing.meter": "billing meter",
}
_ALPHABET = string.ascii_letters + string.digits


# The frozen time of the test clock the current work happens on (None: wall time); see `frozen_at`.
_FROZEN: ContextVar[int | None] = ContextVar("stripe_frozen_time", default=None)


def now() -> int:
    """Wall time, or the frozen time of the test clock whose objects are being acted on."""
    frozen = _FROZEN.get()
    return int(time.time()) if frozen is None else frozen


@contextmanager
def frozen_at(moment: int | None) -> Iterator[None]:
    """Make `now()` answer `moment` (None: wall time) inside the block: objects of a test clock live on its time."""
    token = _FROZEN.set(moment)
    try:
        yield
    finally:
        _FROZEN.reset(token)


@dataclass
class IdempotencyRecord:
    """The stored outcome of the first request with a key, replayed for every retry with the same params."""

    fingerprint: str
    status: int
    body: dict[str, Any]
    request_id: str


@dataclass
class StripeState:
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {name: {} for name in COLLECTIONS})
    events: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    settling_refunds: list[str] = field(default_factory=list)
    # Bank debits (payment intent ids) still `processing` that settle on a timer or `/_sandbox/settle`.
    bank_debits: list[str] = field(default_factory=list)
    # Test clocks (ids) told to advance, whose advance runs right after the response (see `test_clocks`).
    advancing: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def new_id(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"

    def add(self, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[collection][obj["id"]] = obj
        return obj

    def get(self, collection: str, object_id: str, param: str | None = None) -> dict[str, Any]:
        """The stored object, or Stripe's resource_missing error (404 for the URL's id, 400 for a param)."""
        found = self.objects[collection].get(object_id)
        if found is None:
            kind = COLLECTIONS[collection]
            raise no_such(_KIND_NAMES.get(kind, kind), object_id, param)
        return found

    def clock_time(self, customer_id: str | None) -> int | None:
        """The frozen time of the test clock the customer belongs to (None: the customer lives on wall time)."""
        customer = self.objects["customers"].get(customer_id or "")
        clock = self.objects["test_clocks"].get(customer["test_clock"] or "") if customer else None
        return None if clock is None else int(clock["frozen_time"])

    def lookup(self, object_id: str) -> dict[str, Any] | None:
        for members in self.objects.values():
            if object_id in members:
                return members[object_id]
        return None

    def emit(self, call: Call, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record an event with a snapshot of `obj`; it is delivered to the webhook after the request."""
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": {"object": render(self, obj)},
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": call.request_id, "idempotency_key": call.idempotency_key},
            "type": type_,
        }
        self.events.append(event)
        self.outbox.append(event)
        return event

    def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            name: [render(self, obj) for obj in members.values()] for name, members in self.objects.items()
        }
        result["events"] = copy.deepcopy(self.events)
        result["idempotency_keys"] = len(self.idempotency)
        result["idempotency_in_flight"] = sorted(self.in_flight)
        result["webhook_deliveries"] = copy.deepcopy(self.deliveries)
        return result

    def reset(self) -> None:
        for members in self.objects.values():
            members.clear()
        self.events.clear()
        self.idempotency.clear()
        self.in_flight.clear()
        self.outbox.clear()
        self.deliveries.clear()
        self.settling_refunds.clear()
        self.bank_debits.clear()
        self.advancing.clear()


@dataclass
class Call:
    """One API request as a handler sees it (request_id None: Stripe acting on its own, e.g. a settlement)."""

    state: StripeState
    params: Params
    request_id: str | None
    idempotency_key: str | None = None
    api_version: str = API_VERSION


def render(state: StripeState, obj: dict[str, Any], api_version: str = API_VERSION) -> dict[str, Any]:
    """The wire shape of a stored object: private `_` fields dropped, live sub-lists filled in."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
    kind = obj.get("object")
    if kind == "payment_intent":
        charges = [render(state, state.objects["charges"][cid], api_version) for cid in obj["_charges"]]
        if api_version >= "2022-11-15":
            out["latest_charge"] = obj["_charges"][-1] if obj["_charges"] else None
        else:
            # The list holds only the latest charge, as the 2020-08-27 API documents.
            out["charges"] = list_object(charges[-1:], f"/v1/charges?payment_intent={obj['id']}")
    elif kind == "charge":
        refunds = [render(state, state.objects["refunds"][rid]) for rid in obj["_refunds"]]
        out["refunds"] = list_object(refunds, f"/v1/charges/{obj['id']}/refunds")
    elif kind == "dispute":  # the funds withdrawn (and reinstated), as full objects
        out["balance_transactions"] = [
            render(state, state.objects["balance_transactions"][txn]) for txn in obj["_balance_transactions"]
        ]
    return out


def list_object(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def expand(state: StripeState, obj: dict[str, Any], paths: list[str], api_version: str) -> dict[str, Any]:
    """Apply `expand[]` paths like `charges.data.balance_transaction` to a rendered object."""

    def walk(node: dict[str, Any], segments: list[str], path: str) -> None:
        head, rest = segments[0], segments[1:]
        if head not in node:
            raise InvalidParams(f"This property cannot be expanded ({path}).", param="expand")
        target = node[head]
        if isinstance(target, str):
            found = state.lookup(target)
            if found is None:
                raise InvalidParams(f"This property cannot be expanded ({path}).", param="expand")
            target = node[head] = render(state, found, api_version)
        if not rest or target is None:
            return
        if isinstance(target, list):
            for item in target:
                walk(item, rest, path)
        elif isinstance(target, dict):
            walk(target, rest, path)
        else:
            raise InvalidParams(f"This property cannot be expanded ({path}).", param="expand")

    for path in paths:
        walk(obj, path.split("."), path)
    return obj
