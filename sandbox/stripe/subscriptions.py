"""Subscriptions: created active, cancelled with DELETE; they never generate invoices here."""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime
from typing import Any

from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.state import Call, list_object, now

SUBSCRIPTION_CREATE = frozenset(
    {"customer", "items", "collection_method", "days_until_due", "metadata", "cancel_at", "default_payment_method"}
)
SUBSCRIPTION_CANCEL = frozenset({"invoice_now", "prorate"})
_ITEM = frozenset({"price", "quantity", "metadata"})


def add_interval(timestamp: int, interval: str, count: int) -> int:
    """`timestamp` moved on by whole calendar intervals (month ends clamp, as Stripe's billing anchors do)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if interval in ("day", "week"):
        return timestamp + count * (86_400 if interval == "day" else 604_800)
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return int(moment.replace(year=year, month=month + 1, day=day).timestamp())


def create_subscription(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    customer_id = params.req("customer")
    items = params.objects("items", _ITEM)
    if not items:
        raise InvalidParams("Missing required param: items.", param="items", code="parameter_missing")
    method = params.text("collection_method", choices=("charge_automatically", "send_invoice"))
    method = method or "charge_automatically"
    days_until_due = params.integer("days_until_due", minimum=0)
    if method == "send_invoice" and days_until_due is None:
        raise InvalidParams("Missing required param: days_until_due.", param="days_until_due")
    if method == "charge_automatically" and days_until_due is not None:
        raise InvalidParams(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    cancel_at = params.integer("cancel_at")
    lines = [(item.req("price"), item.integer("quantity", minimum=0), item.metadata()) for item in items]
    metadata = {k: v for k, v in params.metadata().items() if v}
    started = now()
    if cancel_at is not None and cancel_at <= started:
        raise InvalidParams("cancel_at must be in the future.", param="cancel_at")
    customer = state.get("customers", customer_id, param="customer")
    prices = [state.get("prices", price_id, param=f"items[{i}][price]") for i, (price_id, _, _) in enumerate(lines)]
    if len({p["id"] for p in prices}) != len(prices):
        raise invalid("Cannot add multiple subscription items with the same price.", param="items")
    if any(p["recurring"] is None for p in prices):
        raise invalid("The price specified is not recurring; subscriptions need recurring prices.", param="items")
    if len({p["currency"] for p in prices}) > 1 or len({p["recurring"]["interval"] for p in prices}) > 1:
        raise invalid("All prices on a subscription must have the same currency and interval.", param="items")
    interval = prices[0]["recurring"]["interval"]
    count = prices[0]["recurring"]["interval_count"]
    sub_id = state.new_id("sub")
    subscription_items: list[dict[str, Any]] = [
        {
            "id": state.new_id("si", 14),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": started,
            "metadata": {k: v for k, v in item_metadata.items() if v},
            "price": copy.deepcopy(price),
            "quantity": 1 if quantity is None else quantity,
            "subscription": sub_id,
            "tax_rates": [],
        }
        for price, (_, quantity, item_metadata) in zip(prices, lines, strict=True)
    ]
    if customer["currency"] is None:
        customer["currency"] = prices[0]["currency"]
    subscription: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False},
        "billing_cycle_anchor": started,
        "billing_thresholds": None,
        "cancel_at": cancel_at,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "collection_method": method,
        "created": started,
        "current_period_end": add_interval(started, interval, count),
        "current_period_start": started,
        "customer": customer_id,
        "days_until_due": days_until_due,
        "default_payment_method": params.text("default_payment_method"),
        "default_tax_rates": [],
        "discount": None,
        "ended_at": None,
        "items": list_object(subscription_items, f"/v1/subscription_items?subscription={sub_id}"),
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata,
        "pause_collection": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": started,
        "status": "active",
        "test_clock": None,
        "trial_end": None,
        "trial_start": None,
    }
    return state.add("subscriptions", subscription)


def get_subscription(call: Call, subscription_id: str) -> dict[str, Any]:
    return call.state.get("subscriptions", subscription_id)


def cancel_subscription(call: Call, subscription_id: str) -> dict[str, Any]:
    """Cancel now; cancelling a cancelled subscription answers it unchanged (the emulator's simplification)."""
    subscription = call.state.get("subscriptions", subscription_id)
    if subscription["status"] != "canceled":
        moment = now()
        subscription.update(status="canceled", canceled_at=moment, ended_at=moment)
    return subscription


def currency_of(subscription: dict[str, Any]) -> str:
    return str(subscription["items"]["data"][0]["price"]["currency"])
