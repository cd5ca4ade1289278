"""Test clocks (`/v1/test_helpers/test_clocks`): frozen time for a customer and everything it owns, and advancing it.

As Stripe documents: a clock is created at a `frozen_time` (past or future) and only moves forward; customers
created with `test_clock` live on its time (their subscriptions' `created`, periods and anchor, their invoices,
payments and events are stamped with it). `POST .../advance` answers the clock `advancing` (its `frozen_time`
still the old one) and the advance runs right after the response (`complete_advances`), then the clock is
`ready` at the new time: poll it, or wait for `test_helpers.test_clock.ready`, as with Stripe. The target must
be after the current frozen time and at most two intervals of the clock's shortest subscription ahead (two years
without subscriptions); a violation is a 400 `invalid_request_error` on `frozen_time`.

While advancing, every due step runs in time order, each at its own moment (events carry it as `created`):
a subscription reaching `current_period_end` renews (`subscriptions.renew`), or ends there with
`cancel_at_period_end` / at `cancel_at` (`subscriptions.end`); a draft with `auto_advance` is finalized an hour
after its creation, as Stripe does: `charge_automatically` is charged (a decline makes the subscription
`past_due`), `send_invoice` is finalized with `due_date` = finalization + its days until due and sent
(`invoice.sent`). Deleting a clock deletes its customers with their subscriptions, invoices and invoice items."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from sandbox.stripe.errors import StripeError, invalid
from sandbox.stripe.forms import Params
from sandbox.stripe.invoices import collect, finalize
from sandbox.stripe.listing import page
from sandbox.stripe.state import Call, StripeState, frozen_at, now
from sandbox.stripe.subscriptions import add_interval, end, renew

TEST_CLOCK_CREATE = frozenset({"frozen_time", "name"})
TEST_CLOCK_ADVANCE = frozenset({"frozen_time"})
TEST_CLOCK_LIST = frozenset({"limit", "starting_after", "ending_before"})
# Stripe's API reference shows `deletes_after` seven days after `created`.
DELETES_AFTER = 7 * 86_400
# Stripe finalizes an `auto_advance` draft about an hour after it was created.
FINALIZE_AFTER = 3_600
# Subscriptions that still renew (incomplete ones wait for their first payment, canceled ones are over).
_RENEWING = ("active", "past_due", "trialing")
# Request parameters naming an object whose customer's clock, if any, the request runs on.
_REFERENCES = ("customer", "invoice", "subscription", "payment_intent", "charge", "test_clock")

Step = Callable[[Call], None]


def create_test_clock(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    frozen_time = params.integer("frozen_time", required=True)
    assert frozen_time is not None
    created = now()
    clock: dict[str, Any] = {
        "id": state.new_id("clock"),
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + DELETES_AFTER,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": params.text("name"),
        "status": "ready",
        "_target": None,
    }
    state.add("test_clocks", clock)
    with frozen_at(frozen_time):
        state.emit(call, "test_helpers.test_clock.created", clock)
    return clock


def get_test_clock(call: Call, clock_id: str) -> dict[str, Any]:
    return call.state.get("test_clocks", clock_id)


def list_test_clocks(call: Call) -> dict[str, Any]:
    """Newest first, paged with `limit` / `starting_after` / `ending_before` (see `listing`)."""
    clocks = call.state.objects["test_clocks"].values()
    return page(call, "test_clocks", clocks, "/v1/test_helpers/test_clocks")


def delete_test_clock(call: Call, clock_id: str) -> dict[str, Any]:
    """The clock goes, and with it its customers, their subscriptions, invoices and invoice items."""
    state = call.state
    clock = state.get("test_clocks", clock_id)
    customers = {c["id"] for c in state.objects["customers"].values() if c["test_clock"] == clock_id}
    for collection in ("subscriptions", "invoices", "invoiceitems"):
        members = state.objects[collection]
        for object_id in [i for i, obj in members.items() if obj["customer"] in customers]:
            del members[object_id]
    for customer_id in customers:
        del state.objects["customers"][customer_id]
    del state.objects["test_clocks"][clock_id]
    if clock_id in state.advancing:
        state.advancing.remove(clock_id)
    state.emit(call, "test_helpers.test_clock.deleted", clock)
    return {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}


def advance_limit(state: StripeState, clock: dict[str, Any]) -> int:
    """The latest time the clock may be advanced to: two intervals of its shortest subscription from its frozen
    time, or two years when it has none (Stripe's documented limit)."""
    frozen = int(clock["frozen_time"])
    limits = [
        add_interval(frozen, recurring["interval"], 2 * recurring["interval_count"])
        for subscription in _subscriptions(state, clock["id"])
        if subscription["status"] != "canceled"
        for recurring in [subscription["items"]["data"][0]["price"]["recurring"]]
    ]
    return min(limits, default=add_interval(frozen, "year", 2))


def advance_test_clock(call: Call, clock_id: str) -> dict[str, Any]:
    """Start advancing (answered `advancing`); `complete_advances` does the work right after the response."""
    state = call.state
    target = call.params.integer("frozen_time", required=True)
    assert target is not None
    clock = state.get("test_clocks", clock_id)
    if clock["status"] != "ready":
        raise invalid(
            f"Test clock {clock_id} is {clock['status']}; it can only be advanced once it is ready.",
            param="frozen_time",
        )
    if target <= clock["frozen_time"]:
        raise invalid(
            f"The frozen_time ({target}) must be after the current frozen time ({clock['frozen_time']}).",
            param="frozen_time",
        )
    limit = advance_limit(state, clock)
    if target > limit:
        raise invalid(
            f"The frozen_time ({target}) cannot be more than two intervals of the shortest subscription on this "
            f"test clock (or two years without subscriptions) after its current frozen time: at most {limit}.",
            param="frozen_time",
        )
    clock.update(status="advancing", _target=target)
    state.advancing.append(clock_id)
    state.emit(call, "test_helpers.test_clock.advancing", clock)
    return clock


def complete_advances(state: StripeState, clock_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Run the advances started for `clock_ids`, each due step at its own moment; returns the events."""
    call = Call(state, Params({}, None), None)
    for clock_id in clock_ids:
        clock = state.objects["test_clocks"].get(clock_id)
        if clock is None or clock["status"] != "advancing":
            continue  # deleted (or reset) meanwhile
        target = int(clock["_target"])
        while (due := _next_step(state, clock_id, target)) is not None:
            moment, step = due
            with frozen_at(moment):
                step(call)
        clock.update(frozen_time=target, status="ready", _target=None)
        with frozen_at(target):
            state.emit(call, "test_helpers.test_clock.ready", clock)
    events = list(state.outbox)
    state.outbox.clear()
    return events


def _subscriptions(state: StripeState, clock_id: str) -> list[dict[str, Any]]:
    return [s for s in state.objects["subscriptions"].values() if s["test_clock"] == clock_id]


def _next_step(state: StripeState, clock_id: str, target: int) -> tuple[int, Step] | None:
    """The earliest thing due on the clock by `target` (renewal, end, or a draft's finalization), if any."""
    due: list[tuple[int, Step]] = []
    for subscription in _subscriptions(state, clock_id):
        if subscription["status"] not in _RENEWING:
            continue
        cancel_at, period_end = subscription["cancel_at"], subscription["current_period_end"]
        if cancel_at is not None and cancel_at <= period_end:
            due.append((cancel_at, partial(end, subscription=subscription)))
        elif subscription["cancel_at_period_end"]:
            due.append((period_end, partial(end, subscription=subscription)))
        else:
            due.append((period_end, partial(_renew, subscription=subscription)))
    for invoice in state.objects["invoices"].values():
        if invoice["test_clock"] == clock_id and invoice["status"] == "draft" and invoice["auto_advance"]:
            due.append((invoice["created"] + FINALIZE_AFTER, partial(_finalize_due, invoice=invoice)))
    due = [d for d in due if d[0] <= target]
    return min(due, key=lambda d: d[0]) if due else None


def _renew(call: Call, subscription: dict[str, Any]) -> None:
    renew(call, subscription)


def _finalize_due(call: Call, invoice: dict[str, Any]) -> None:
    """Stripe's automatic finalization of a draft, an hour after its creation (now)."""
    state = call.state
    if invoice["collection_method"] == "send_invoice":
        if invoice["due_date"] is not None:
            invoice["due_date"] = now() + (invoice["due_date"] - invoice["created"])
        finalize(call, invoice)
        if invoice["status"] == "open":
            state.emit(call, "invoice.sent", invoice)
        return
    try:
        collect(call, invoice)
    except StripeError as exc:
        if exc.status != 402:
            raise
    intent = state.objects["payment_intents"].get(invoice["payment_intent"] or "")
    subscription = state.objects["subscriptions"].get(invoice["subscription"] or "")
    declined = intent is not None and intent["status"] == "requires_payment_method"
    if declined and subscription is not None and subscription["status"] == "active":
        if subscription["latest_invoice"] == invoice["id"]:
            subscription["status"] = "past_due"
            updated = state.emit(call, "customer.subscription.updated", subscription)
            updated["data"]["previous_attributes"] = {"status": "active"}


def request_time(state: StripeState, path_ids: Iterable[Any], values: dict[str, Any]) -> int | None:
    """The frozen time a request runs on: that of the test clock of the first object it names (in its URL, or as
    a `customer` / `invoice` / ... parameter) whose customer is on a clock; None (wall time) otherwise."""
    for object_id in [*path_ids, *(values.get(name) for name in _REFERENCES)]:
        obj = state.lookup(object_id) if isinstance(object_id, str) else None
        if obj is None:
            continue
        if obj.get("object") == "test_helpers.test_clock":
            return int(obj["frozen_time"])
        customer_id = obj["id"] if obj.get("object") == "customer" else obj.get("customer")
        moment = state.clock_time(customer_id if isinstance(customer_id, str) else None)
        if moment is not None:
            return moment
    return None
