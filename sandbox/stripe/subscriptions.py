"""Subscriptions: created with their first invoice (billing_reason `subscription_create`), cancelled with DELETE.

`send_invoice`: the first invoice stays a draft with `auto_advance` true (Stripe would finalize it about an hour
later; off a test clock the emulator never advances an invoice on its own). `charge_automatically`: it is
finalized and charged at once, and the subscription is `incomplete` until it is paid (a decline or a processing
bank debit), as with Stripe's default `payment_behavior=allow_incomplete`.

A subscription of a customer on a test clock lives on the clock's time, and renews when the clock passes its
period end (`renew`, driven by `test_clocks`); periods are counted from `billing_cycle_anchor`, so month-end
anchors clamp and come back (Jan 31 -> Feb 28 -> Mar 31). Subscriptions off a clock are never renewed here."""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox.stripe.errors import InvalidParams, StripeError, invalid
from sandbox.stripe.invoice_items import pending_items, sweep_in
from sandbox.stripe.invoices import collect, collection, new_invoice
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.meters import usage_quantity
from sandbox.stripe.payments import ZERO_DECIMAL
from sandbox.stripe.state import Call, StripeState, list_object, now

SUBSCRIPTION_CREATE = frozenset(
    {
        "customer",
        "items",
        "collection_method",
        "days_until_due",
        "metadata",
        "cancel_at",
        "cancel_at_period_end",
        "default_payment_method",
    }
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
    method, days_until_due = collection(params)
    cancel_at = params.integer("cancel_at")
    cancel_at_period_end = params.flag("cancel_at_period_end") or False
    if cancel_at is not None and cancel_at_period_end:
        raise InvalidParams(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.", param="cancel_at"
        )
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
    for i, (price, (_, quantity, _)) in enumerate(zip(prices, lines, strict=True)):
        if price["recurring"]["usage_type"] == "metered" and quantity is not None:
            raise InvalidParams(
                f"Quantity should not be specified where usage_type is `metered`. Remove quantity from `items[{i}]`.",
                param=f"items[{i}][quantity]",
            )
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
            # A metered item has no quantity: the meter's usage is its quantity on each invoice.
            **({} if metered(price) else {"quantity": 1 if quantity is None else quantity}),
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
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "collection_method": method,
        "created": started,
        "current_period_end": add_interval(started, interval, count),  # = period_end(subscription, 0)
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
        "test_clock": customer["test_clock"],
        "trial_end": None,
        "trial_start": None,
        "_cycle": 0,  # periods begun since the anchor, less one: the current period ends at anchor + 1 + _cycle
    }
    state.add("subscriptions", subscription)
    invoice = subscription_invoice(state, subscription, customer, "subscription_create", started)
    subscription["latest_invoice"] = invoice["id"]
    if method == "charge_automatically":
        try:
            collect(call, invoice)
        except StripeError as exc:
            if exc.status != 402:
                raise
        if invoice["status"] != "paid":
            subscription["status"] = "incomplete"  # declined, or a bank debit still processing
    return subscription


def metered(price: dict[str, Any]) -> bool:
    return bool(price["recurring"] and price["recurring"]["usage_type"] == "metered")


def subscription_invoice(
    state: StripeState,
    subscription: dict[str, Any],
    customer: dict[str, Any],
    billing_reason: str,
    created: int,
    usage_period: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The draft billing the current period: one line per item (quantity x price), then the customer's pending
    invoice items (not those of another subscription). A metered item is billed in arrears: its line is the
    meter's usage over `usage_period` (the period just ended; none on the first invoice: quantity 0)."""
    currency = currency_of(subscription)
    invoice = new_invoice(
        state,
        customer,
        currency=currency,
        method=subscription["collection_method"],
        days_until_due=subscription["days_until_due"],
        subscription_id=subscription["id"],
        billing_reason=billing_reason,
        auto_advance=True,
        metadata={},
        created=created,
    )
    for item in subscription["items"]["data"]:
        invoice["lines"]["data"].append(_subscription_line(state, subscription, item, usage_period))
    own = (None, subscription["id"])
    pending = [i for i in pending_items(state, customer["id"], currency) if i["subscription"] in own]
    sweep_in(invoice, pending)
    return invoice


def _subscription_line(
    state: StripeState, subscription: dict[str, Any], item: dict[str, Any], usage_period: tuple[int, int] | None
) -> dict[str, Any]:
    price = item["price"]
    period = {"start": subscription["current_period_start"], "end": subscription["current_period_end"]}
    if metered(price):
        start, end = usage_period or (period["start"], period["start"])
        quantity = usage_quantity(state, price["recurring"]["meter"], subscription["customer"], start, end)
        period = {"start": start, "end": end} if usage_period else period
    else:
        quantity = item["quantity"]
    product = state.objects["products"].get(price["product"])
    name = product["name"] if product else price["product"]
    return {
        "id": state.new_id("sli"),
        "object": "line_item",
        "amount": price["unit_amount"] * quantity,
        "currency": price["currency"],
        "description": f"{quantity} × {name} (at {_price_label(price)})",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "livemode": False,
        # As Stripe documents: a subscription line carries the subscription's metadata.
        "metadata": dict(subscription["metadata"]),
        "period": period,
        "price": copy.deepcopy(price),
        "proration": False,
        "quantity": quantity,
        "subscription": subscription["id"],
        "subscription_item": item["id"],
        "tax_amounts": [],
        "tax_rates": [],
        "type": "subscription",
    }


_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}
_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def _price_label(price: dict[str, Any]) -> str:
    """`$49.00 / month`, `¥7,200 / year`, `€10.00 / every 3 months`: how Stripe describes a price on a line."""
    currency = price["currency"]
    digits = 0 if currency in ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2
    amount = f"{Decimal(price['unit_amount']).scaleb(-digits):,.{digits}f}"
    symbol = _SYMBOLS.get(currency)
    money = f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"
    interval, count = price["recurring"]["interval"], price["recurring"]["interval_count"]
    return f"{money} / {interval if count == 1 else f'every {count} {interval}s'}"


def period_end(subscription: dict[str, Any], cycle: int) -> int:
    """The end of the subscription's period number `cycle` (0: the first), counted from its billing anchor."""
    recurring = subscription["items"]["data"][0]["price"]["recurring"]
    steps = recurring["interval_count"] * (cycle + 1)
    return add_interval(subscription["billing_cycle_anchor"], recurring["interval"], steps)


def renew(call: Call, subscription: dict[str, Any]) -> dict[str, Any]:
    """What Stripe does at `current_period_end` (now, on the subscription's test clock): the next period begins
    (`customer.subscription.updated`, with `previous_attributes`) and its draft invoice is created with
    `billing_reason: subscription_cycle` (`invoice.created`); it is finalized about an hour later (see
    `test_clocks`). The invoice's `period_start` / `period_end` are the period just ended, as at Stripe."""
    state = call.state
    previous = {name: subscription[name] for name in ("current_period_end", "current_period_start", "latest_invoice")}
    subscription["_cycle"] += 1
    subscription["current_period_start"] = previous["current_period_end"]
    subscription["current_period_end"] = period_end(subscription, subscription["_cycle"])
    customer = state.get("customers", subscription["customer"])
    ended = (previous["current_period_start"], previous["current_period_end"])
    invoice = subscription_invoice(state, subscription, customer, "subscription_cycle", now(), usage_period=ended)
    invoice.update(period_start=previous["current_period_start"], period_end=previous["current_period_end"])
    subscription["latest_invoice"] = invoice["id"]
    updated = state.emit(call, "customer.subscription.updated", subscription)
    updated["data"]["previous_attributes"] = previous
    state.emit(call, "invoice.created", invoice)
    return invoice


def end(call: Call, subscription: dict[str, Any]) -> None:
    """The subscription reached its `cancel_at` or, with `cancel_at_period_end`, its period end (now): it is
    canceled instead of renewing (`customer.subscription.deleted`); open invoices stop being collected."""
    moment = now()
    subscription.update(status="canceled", ended_at=moment, canceled_at=subscription["canceled_at"] or moment)
    _stop_collection(call.state, subscription)
    call.state.emit(call, "customer.subscription.deleted", subscription)


SUBSCRIPTION_LIST = frozenset({"customer", "status"}) | PAGING


def list_subscriptions(call: Call) -> dict[str, Any]:
    """Newest first; without `status`, canceled ones are left out (`status=all` includes them), as at Stripe.
    Paged and filtered by `created` like every Stripe list (see `listing`)."""
    params = call.params
    customer = params.text("customer")
    status = params.text("status")
    found = [
        s
        for s in call.state.objects["subscriptions"].values()
        if (customer is None or s["customer"] == customer)
        and (status == "all" or (s["status"] == status if status else s["status"] != "canceled"))
    ]
    return page(call, "subscriptions", found, "/v1/subscriptions")


def get_subscription(call: Call, subscription_id: str) -> dict[str, Any]:
    return call.state.get("subscriptions", subscription_id)


def cancel_subscription(call: Call, subscription_id: str) -> dict[str, Any]:
    """Cancel now (`customer.subscription.deleted`), and stop automatic collection of the customer's finalized
    invoices, as Stripe does.

    Drafts are left as they are; cancelling a cancelled subscription answers it unchanged (a simplification)."""
    state = call.state
    subscription = state.get("subscriptions", subscription_id)
    if subscription["status"] != "canceled":
        moment = now()
        subscription.update(status="canceled", canceled_at=moment, ended_at=moment)
        _stop_collection(state, subscription)
        state.emit(call, "customer.subscription.deleted", subscription)
    return subscription


def _stop_collection(state: StripeState, subscription: dict[str, Any]) -> None:
    for invoice in state.objects["invoices"].values():
        if invoice["customer"] == subscription["customer"] and invoice["status"] == "open":
            invoice["auto_advance"] = False


def currency_of(subscription: dict[str, Any]) -> str:
    return str(subscription["items"]["data"][0]["price"]["currency"])
