"""Subscription updates (`POST /v1/subscriptions/{id}`): item changes with prorations, cancel_at, metadata.

As Stripe documents (docs.stripe.com/billing/subscriptions/prorations): with `proration_behavior`
`create_prorations` (the default) every changed item gets pending invoice items with `proration: true` for
the rest of the current period, from `proration_date` (default: now) to `current_period_end`:
"Unused time on {q} × {product} after {date}" credits the old quantity at the old price (negative) and
"Remaining time on {q} × {product} after {date}" charges the new quantity at the new price (positive), each
`round(quantity × unit_amount × remaining / period)` by seconds. They wait for the next invoice (the renewal
sweeps them in as `invoiceitem` lines with `proration: true`); `always_invoice` invoices them at once
(`billing_reason: subscription_update`, finalized, and charged when the subscription charges automatically);
`none` changes the items and bills nothing for the part period. `customer.subscription.updated` carries
`previous_attributes`. A canceled subscription cannot be updated.

Simpler than Stripe: all items keep one currency and interval (no interval change resetting the billing
anchor), no `billing_cycle_anchor`, `payment_behavior`, `pending_if_incomplete`, trials or discounts; no
proration for a `cancel_at` inside the period; no `invoiceitem.created` events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.stripe.catalog import merge_metadata
from sandbox.stripe.errors import InvalidParams, StripeError, invalid
from sandbox.stripe.forms import Params
from sandbox.stripe.invoice_items import sweep_in
from sandbox.stripe.invoices import collect, finalize, new_invoice
from sandbox.stripe.state import Call, StripeState, now

SUBSCRIPTION_UPDATE = frozenset(
    {
        "items",
        "proration_behavior",
        "proration_date",
        "cancel_at",
        "cancel_at_period_end",
        "metadata",
        "default_payment_method",
    }
)
_ITEM_UPDATE = frozenset({"id", "price", "quantity", "deleted", "metadata"})
PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
# What `previous_attributes` may name (the fields an update changes).
_TRACKED = ("items", "cancel_at", "cancel_at_period_end", "metadata", "default_payment_method", "latest_invoice")


def update_subscription(call: Call, subscription_id: str) -> dict[str, Any]:
    state, params = call.state, call.params
    behavior = params.text("proration_behavior", choices=PRORATION_BEHAVIORS) or "create_prorations"
    proration_date = params.integer("proration_date")
    item_params = params.objects("items", _ITEM_UPDATE)
    cancel_at_given = "cancel_at" in params.values
    cancel_at = params.integer("cancel_at")
    period_flag = params.flag("cancel_at_period_end")
    if cancel_at is not None and period_flag:
        raise InvalidParams(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.", param="cancel_at"
        )
    subscription = state.get("subscriptions", subscription_id)
    if subscription["status"] in ("canceled", "incomplete_expired"):
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata.", param="subscription"
        )
    moment = now()
    start, end = subscription["current_period_start"], subscription["current_period_end"]
    if proration_date is None:
        proration_date = moment
    elif not start <= proration_date <= end:
        raise invalid(
            f"proration_date ({proration_date}) must be within the subscription's current period ({start} to {end}).",
            param="proration_date",
        )
    if cancel_at is not None and cancel_at <= moment:
        raise invalid("cancel_at must be in the future.", param="cancel_at")
    previous = {name: copy.deepcopy(subscription[name]) for name in _TRACKED}
    changes = _apply_items(state, subscription, item_params)
    if cancel_at_given:
        subscription.update(cancel_at=cancel_at, cancel_at_period_end=False)
    if period_flag is not None:
        # Stripe: cancelling at the period end sets cancel_at to it; undoing it clears that.
        if period_flag:
            subscription.update(cancel_at=end, cancel_at_period_end=True)
        elif subscription["cancel_at_period_end"]:
            subscription.update(cancel_at=None, cancel_at_period_end=False)
    if "metadata" in params.values:
        if params.values["metadata"] == "":
            subscription["metadata"] = {}
        else:
            subscription["metadata"] = merge_metadata(subscription["metadata"], params.metadata())
    if "default_payment_method" in params.values:
        subscription["default_payment_method"] = params.text("default_payment_method")
    if behavior != "none":
        items = [
            proration
            for old, new in changes
            for proration in _prorations(state, subscription, old, new, proration_date)
            if proration["amount"] != 0
        ]
        if items and behavior == "always_invoice":
            _invoice_now(call, subscription, items)
    changed = {name: value for name, value in previous.items() if subscription[name] != value}
    if changed:
        event = state.emit(call, "customer.subscription.updated", subscription)
        event["data"]["previous_attributes"] = changed
    return subscription


Change = tuple[dict[str, Any] | None, dict[str, Any] | None]  # (the item before, the item after); None: absent


def _apply_items(state: StripeState, subscription: dict[str, Any], item_params: list[Params]) -> list[Change]:
    """Apply `items[n]` (by `id`: change price / quantity / metadata, or `deleted`; without: a new item) and
    check the result as Stripe does; returns the items whose price or quantity changed."""
    items: list[dict[str, Any]] = subscription["items"]["data"]
    by_id = {item["id"]: item for item in items}
    after = {item["id"]: copy.deepcopy(item) for item in items}
    added: list[dict[str, Any]] = []
    moment = now()
    for index, entry in enumerate(item_params):
        label = f"items[{index}]"
        item_id = entry.text("id")
        price_id = entry.text("price")
        quantity = entry.integer("quantity", minimum=0)
        deleted = entry.flag("deleted") or False
        price = state.get("prices", price_id, param=f"{label}[price]") if price_id else None
        if item_id is None:
            if deleted:
                raise InvalidParams(f"Missing required param: {label}[id].", param=f"{label}[id]")
            if price is None:
                raise InvalidParams(
                    f"Missing required param: {label}[price].", param=f"{label}[price]", code="parameter_missing"
                )
            added.append(
                {
                    "id": state.new_id("si", 14),
                    "object": "subscription_item",
                    "billing_thresholds": None,
                    "created": moment,
                    "metadata": {k: v for k, v in entry.metadata().items() if v},
                    "price": copy.deepcopy(price),
                    "quantity": 1 if quantity is None else quantity,
                    "subscription": subscription["id"],
                    "tax_rates": [],
                }
            )
            continue
        if item_id not in after:
            raise invalid(
                f"Invalid subscription_item: {item_id} is not an item of {subscription['id']}.",
                code="resource_missing",
                param=f"{label}[id]",
            )
        if deleted:
            del after[item_id]
            continue
        item = after[item_id]
        if price is not None:
            item["price"] = copy.deepcopy(price)
        if quantity is not None:
            item["quantity"] = quantity
        item["metadata"] = merge_metadata(item["metadata"], entry.metadata())
    result = [*after.values(), *added]
    prices = [item["price"] for item in result]
    if not result:
        raise invalid("A subscription must have at least one active plan.", param="items")
    if len({p["id"] for p in prices}) != len(prices):
        raise invalid("Cannot add multiple subscription items with the same price.", param="items")
    if any(p["recurring"] is None for p in prices):
        raise invalid("The price specified is not recurring; subscriptions need recurring prices.", param="items")
    first = items[0]["price"]
    if any(
        (p["currency"], p["recurring"]["interval"], p["recurring"]["interval_count"])
        != (first["currency"], first["recurring"]["interval"], first["recurring"]["interval_count"])
        for p in prices
    ):
        raise invalid("All prices on a subscription must have the same currency and interval.", param="items")
    changes: list[Change] = []
    for item_id, old in by_id.items():
        new = after.get(item_id)
        if new is None or (new["price"]["id"], new.get("quantity")) != (old["price"]["id"], old.get("quantity")):
            changes.append((old, new))
    changes.extend((None, item) for item in added)
    subscription["items"]["data"] = result
    return changes


def _prorations(
    state: StripeState, subscription: dict[str, Any], old: dict[str, Any] | None, new: dict[str, Any] | None, at: int
) -> list[dict[str, Any]]:
    """The pending proration items of one changed item: unused time of `old`, remaining time of `new`."""
    start, end = subscription["current_period_start"], subscription["current_period_end"]
    remaining, length = end - at, end - start
    made = []
    for item, sign, what in ((old, -1, "Unused"), (new, 1, "Remaining")):
        if item is None or not item.get("quantity") or remaining <= 0:  # metered items (no quantity): in arrears
            continue
        price, quantity = item["price"], item["quantity"]
        exact = Decimal(quantity * price["unit_amount"] * remaining) / Decimal(length)
        amount = sign * int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        made.append(_proration_item(state, subscription, item, amount, f"{what} time", at))
    return made


def _proration_item(
    state: StripeState, subscription: dict[str, Any], item: dict[str, Any], amount: int, what: str, at: int
) -> dict[str, Any]:
    price, quantity = item["price"], item["quantity"]
    product = state.objects["products"].get(price["product"])
    name = product["name"] if product else price["product"]
    day = datetime.fromtimestamp(at, UTC)
    customer = state.get("customers", subscription["customer"])
    proration = {
        "id": state.new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": price["currency"],
        "customer": subscription["customer"],
        "date": now(),
        "description": f"{what} on {quantity} × {name} after {day.day} {day:%b %Y}",
        "discountable": False,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "period": {"start": at, "end": subscription["current_period_end"]},
        "price": copy.deepcopy(price),
        "proration": True,
        "quantity": quantity,
        "subscription": subscription["id"],
        "subscription_item": item["id"],
        "tax_rates": [],
        "test_clock": customer["test_clock"],
        "unit_amount": price["unit_amount"],
        "unit_amount_decimal": str(Decimal(amount) / quantity),
    }
    return state.add("invoiceitems", proration)


def _invoice_now(call: Call, subscription: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """`always_invoice`: the prorations billed at once on their own invoice (`subscription_update`), finalized and,
    for `charge_automatically`, charged (a decline leaves it open, as Stripe does)."""
    state = call.state
    customer = state.get("customers", subscription["customer"])
    invoice = new_invoice(
        state,
        customer,
        currency=items[0]["currency"],
        method=subscription["collection_method"],
        days_until_due=subscription["days_until_due"],
        subscription_id=subscription["id"],
        billing_reason="subscription_update",
        auto_advance=True,
        metadata={},
        created=now(),
    )
    sweep_in(invoice, items)
    if invoice["total"] < 0:
        # A net credit: nothing is due, and the credit goes to the customer's balance, as at Stripe.
        customer["balance"] += invoice["total"]
        invoice.update(amount_due=0, amount_remaining=0)
    subscription["latest_invoice"] = invoice["id"]
    state.emit(call, "invoice.created", invoice)
    if subscription["collection_method"] == "send_invoice" or invoice["amount_due"] <= 0:
        finalize(call, invoice)
        return
    try:
        collect(call, invoice)
    except StripeError as exc:
        if exc.status != 402:
            raise
