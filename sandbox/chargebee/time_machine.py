"""The site's time machine (`/time_machines/delorean`) and what happens as the site's time passes: renewals and the
ends of terms.

As Chargebee documents: `start_afresh` clears the customer data (customers, subscriptions, invoices, transactions,
credit notes, unbilled charges; the catalog stays) and sets the site's time to `genesis_time` (default six months
ago); `travel_forward` moves it to `destination_time`, which must be later, running everything due on the way in
time order, each at its own moment (events carry it as `occurred_at`). Both are asynchronous at Chargebee (poll
the time machine until `time_travel_status` is no longer `in_progress`); here the work is done before the answer,
which says `succeeded`. Between travels the site's time runs on with the wall clock, and what falls due meanwhile
runs on the next request. Unlike Chargebee, a genesis time in the future is taken: the tests' workflow clock (the
time-skipping server) runs ahead of wall time, and billing's time follows it.

What falls due, at the current term's end:
- an `active` subscription renews: a new term of the plan's period (same billing date), `remaining_billing_cycles`
  counted down (at 0 it becomes `non_renewing`, cancelled at the new term's end), and its renewal invoice: a line
  per item for the new term plus the subscription's unbilled charges (prorations of a change made with
  `invoice_immediately` false), held `pending` when the subscription has `create_pending_invoices`, else generated
  (and charged with auto collection). Events `subscription_renewed` (subscription, customer, invoice), then
  `pending_invoice_created` or `invoice_generated`.
- a `non_renewing` subscription is cancelled at its `cancelled_at` (`subscription_cancelled`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from sandbox.chargebee import wire
from sandbox.chargebee.billing import add_period, new_invoice, term_lines
from sandbox.chargebee.state import Record, Site, now, site_time, touch
from sandbox.chargebee.wire import ApiError

NAME = "delorean"
GENESIS_DEFAULT = 183 * 86_400  # "six months in the past"
CUSTOMER_DATA = ("customers", "subscriptions", "invoices", "credit_notes", "transactions", "unbilled_charges")


def time_machine(site: Site) -> Record:
    return {
        "name": NAME,
        "time_travel_status": "succeeded",
        "genesis_time": site.genesis_time,
        "destination_time": now(),
        "object": "time_machine",
    }


def _named(name: str) -> None:
    if name != NAME:
        raise ApiError(404, "resource_not_found", f"Sorry, we couldn't find that resource: time machine {name}")


def retrieve(site: Site, ids: dict[str, str], query: Record) -> Record:
    _named(ids["id"])
    return {"time_machine": time_machine(site)}


def start_afresh(site: Site, ids: dict[str, str], form: Record) -> Record:
    _named(ids["id"])
    genesis = wire.integer(form, "genesis_time", low=1, high=10**11)
    genesis = now() - GENESIS_DEFAULT if genesis is None else genesis
    for name in CUSTOMER_DATA:
        getattr(site, name).clear()
    site.genesis_time = genesis
    site.clock_offset = genesis - _wall()
    with site_time(site.clock_offset):
        return {"time_machine": time_machine(site)}


def travel_forward(site: Site, ids: dict[str, str], form: Record) -> Record:
    _named(ids["id"])
    destination = wire.integer(form, "destination_time", required=True, low=1, high=10**11)
    assert destination is not None
    if destination <= now():
        raise wire.wrong_value(
            "destination_time", f"destination_time : must be after the site's current time ({now()})"
        )
    run_due(site, destination)
    site.clock_offset = destination - _wall()
    with site_time(site.clock_offset):
        return {"time_machine": time_machine(site)}


def _wall() -> int:
    with site_time(0):
        return now()


def run_due(site: Site, until: int) -> None:
    """Everything due on the site by `until`, earliest first, each at its own moment."""
    while (due := _next_due(site, until)) is not None:
        moment, step = due
        with site_time(site.clock_offset, frozen=moment):
            step()


def _next_due(site: Site, until: int) -> tuple[int, Any] | None:
    due: list[tuple[int, Any]] = []
    for subscription in site.subscriptions.values():
        if subscription.get("deleted"):
            continue
        if subscription["status"] == "active":
            due.append((subscription["current_term_end"], partial(renew, site, subscription)))
        elif subscription["status"] == "non_renewing" and isinstance(subscription.get("cancelled_at"), int):
            due.append((subscription["cancelled_at"], partial(end_term, site, subscription)))
    due = [d for d in due if d[0] <= until]
    return min(due, key=lambda d: d[0]) if due else None


def renew(site: Site, subscription: Record) -> None:
    """The next term, and its invoice with the subscription's unbilled charges."""
    start = subscription["current_term_end"]
    anchor = datetime.fromtimestamp(subscription["started_at"], UTC).day
    end = add_period(start, subscription["billing_period"], subscription["billing_period_unit"], anchor)
    subscription.update(current_term_start=start, current_term_end=end, next_billing_at=end)
    remaining = subscription.get("remaining_billing_cycles")
    if isinstance(remaining, int) and remaining > 0:
        subscription["remaining_billing_cycles"] = remaining - 1
        if remaining == 1:
            subscription["status"], subscription["cancelled_at"] = "non_renewing", end
    lines = term_lines(site, subscription, start, end) + unbilled_lines(site, subscription["id"])
    touch(subscription)
    customer = site.customers[subscription["customer_id"]]
    pending = bool(subscription.get("create_pending_invoices"))
    before = len(site.events)
    invoice = new_invoice(site, subscription, lines, pending=pending, first=False)
    # subscription_renewed comes first, carrying the invoice as it was made
    renewed = site.emit(
        "subscription_renewed", {"subscription": subscription, "customer": customer, "invoice": invoice}
    )
    site.events.insert(before, site.events.pop(site.events.index(renewed)))


def unbilled_lines(site: Site, subscription_id: str) -> list[Record]:
    """The subscription's unbilled charges as invoice lines; they are billed now (removed)."""
    charges = [c for c in site.unbilled_charges.values() if c["subscription_id"] == subscription_id]
    for charge in charges:
        del site.unbilled_charges[charge["id"]]
    return [{key: value for key, value in charge["line"].items()} for charge in charges]


def end_term(site: Site, subscription: Record) -> None:
    subscription["status"] = "cancelled"
    subscription.pop("next_billing_at", None)
    touch(subscription)
    customer = site.customers[subscription["customer_id"]]
    site.emit("subscription_cancelled", {"subscription": subscription, "customer": customer})
