"""Changes to a running subscription: `update_for_items` (items, billing cycles) with its prorations, and the
unbilled charges they leave (`GET /unbilled_charges`, `POST /unbilled_charges/invoice_unbilled_charges`).

`POST /subscriptions/{id}/update_for_items`: `subscription_items[item_price_id|quantity|unit_price][i]` are merged
into the subscription's items (added or changed), or are its items exactly with `replace_items_list`; one plan
item price stays mandatory, and every item price must have the plan's currency and period. The change takes
effect now (the site's time). With `prorate` (default true) each item whose amount changed is prorated for the
rest of the current term, by the second, half up: an increase is a charge — invoiced now with
`invoice_immediately` (held `pending` when the subscription has `create_pending_invoices`), else an unbilled
charge that the next renewal invoice bills — and a decrease a credit note on the term's invoice (`adjustment`
while it is unpaid, `refundable` once paid; reason `subscription_change`). Prorated lines keep the item price as
entity, cover [now, term end) and say `Prorated Charges` / `Prorated Credits`. `billing_cycles` (including the
current one) sets `remaining_billing_cycles`: a subscription `non_renewing` because its cycles ran out renews again
when given more; one with a scheduled cancellation does not (remove the schedule first). `end_of_term` and
`changes_scheduled_at` (changes later than now) are not emulated: refused.
"""

from __future__ import annotations

from typing import Any

from sandbox.chargebee import wire
from sandbox.chargebee.billing import item_price, line_item, new_invoice
from sandbox.chargebee.catalog import get
from sandbox.chargebee.credit_notes import create_credit_note
from sandbox.chargebee.state import Record, Site, now, touch


def update_for_items(site: Site, subscription_id: str, form: Record) -> Record:
    subscription = get(site.subscriptions, "subscription", subscription_id)
    if subscription["status"] == "cancelled":
        raise wire.invalid_state(f"subscription {subscription_id} is cancelled; it cannot be changed")
    for unsupported in ("end_of_term", "changes_scheduled_at"):
        if unsupported in form and form[unsupported] not in ("false", ""):
            raise wire.wrong_value(unsupported, f"{unsupported} : this emulator applies changes at once")
    replace = wire.boolean(form, "replace_items_list", False)
    prorate = wire.boolean(form, "prorate", True)
    immediately = wire.boolean(form, "invoice_immediately", False)
    cycles = wire.integer(form, "billing_cycles", low=1, high=10_000)
    before = {item["item_price_id"]: item for item in subscription["subscription_items"]}
    given = _items(site, subscription, form)
    if given:
        after = dict(given) if replace else {**before, **given}
        _check_plan(site, subscription, after)
        subscription["subscription_items"] = list(after.values())
    else:
        after = before
    if cycles is not None:
        _set_cycles(subscription, cycles)
    if "meta_data" in form:
        subscription["meta_data"] = wire.json_object(form, "meta_data")
    touch(subscription)
    customer = site.customers[subscription["customer_id"]]
    answer: Record = {"subscription": subscription, "customer": customer}
    charges, credits = _prorations(site, subscription, before, after) if prorate else ([], [])
    if charges and immediately:
        pending = bool(subscription.get("create_pending_invoices"))
        answer["invoice"] = new_invoice(site, subscription, charges, pending=pending, first=False)
    else:
        for line in charges:
            _unbilled(site, subscription, line)
    notes = [_credit(site, subscription, amount) for amount in credits]
    if notes:
        answer["credit_notes"] = notes
    site.emit("subscription_changed", answer)
    return answer


def _items(site: Site, subscription: Record, form: Record) -> dict[str, Record]:
    items: dict[str, Record] = {}
    for index, row in enumerate(wire.rows(form, "subscription_items")):
        param, price_id, price = item_price(site, row, index)
        if price["item_type"] not in ("plan", "addon"):
            raise wire.wrong_value(param, f"{param} : a charge cannot be a subscription item")
        if price["currency_code"] != subscription["currency_code"]:
            raise wire.wrong_value(param, f"{param} : must be in the subscription's currency")
        if (price["period"], price["period_unit"]) != (
            subscription["billing_period"],
            subscription["billing_period_unit"],
        ):
            raise wire.wrong_value(param, f"{param} : must have the plan's billing period")
        quantity = wire.integer(row, "quantity", low=1, high=10**9) or 1
        unit = wire.integer(row, "unit_price", high=10**13)
        unit = price["price"] if unit is None else unit
        items[price_id] = {
            "item_price_id": price_id,
            "item_type": price["item_type"],
            "quantity": quantity,
            "unit_price": unit,
            "amount": unit * quantity,
            "free_quantity": 0,
            "object": "subscription_item",
        }
    return items


def _check_plan(site: Site, subscription: Record, items: dict[str, Record]) -> None:
    plans = [item for item in items.values() if item["item_type"] == "plan"]
    if len(plans) != 1:
        raise wire.wrong_value("subscription_items", "a subscription has exactly one plan item price")


def _set_cycles(subscription: Record, cycles: int) -> None:
    if subscription.get("cancel_schedule_created_at"):
        raise wire.invalid_state(
            f"subscription {subscription['id']} has a scheduled cancellation; remove it before changing its cycles"
        )
    subscription["billing_cycles"] = cycles
    subscription["remaining_billing_cycles"] = cycles - 1
    if cycles == 1:
        subscription["status"], subscription["cancelled_at"] = "non_renewing", subscription["current_term_end"]
    elif subscription["status"] == "non_renewing":
        subscription["status"] = "active"
        subscription.pop("cancelled_at", None)


def _prorations(
    site: Site, subscription: Record, before: dict[str, Record], after: dict[str, Record]
) -> tuple[list[Record], list[int]]:
    """Prorated charge lines (increases) and credit amounts (decreases) for the rest of the term."""
    start, end, moment = subscription["current_term_start"], subscription["current_term_end"], now()
    if not start <= moment < end:
        return [], []
    charges: list[Record] = []
    credits: list[int] = []
    for price_id in sorted(set(before) | set(after)):
        old, new = before.get(price_id), after.get(price_id)
        delta = (new["amount"] if new else 0) - (old["amount"] if old else 0)
        if delta == 0:
            continue
        prorated = _share(abs(delta), end - moment, end - start)
        item = new or old
        assert item is not None
        moved = abs((new["quantity"] if new else 0) - (old["quantity"] if old else 0))
        if delta > 0 and prorated:
            line = line_item(site, subscription, item, moment, end, moved or item["quantity"], prorated)
            line["description"] = f"{site.item_prices[price_id]['name']} - Prorated Charges"
            charges.append(line)
        elif prorated:
            credits.append(prorated)
    return charges, credits


def _share(amount: int, left: int, term: int) -> int:
    return (2 * amount * left + term) // (2 * term)  # amount x left / term, half up


def _unbilled(site: Site, subscription: Record, line: Record) -> Record:
    charge: Record = {
        "id": site.new_id("ubc"),
        "customer_id": subscription["customer_id"],
        "subscription_id": subscription["id"],
        "date_from": line["date_from"],
        "date_to": line["date_to"],
        "unit_amount": line["unit_amount"],
        "quantity": line["quantity"],
        "amount": line["amount"],
        "currency_code": subscription["currency_code"],
        "entity_type": line["entity_type"],
        "entity_id": line["entity_id"],
        "description": line["description"],
        "is_voided": False,
        "deleted": False,
        "object": "unbilled_charge",
        "line": line,
    }
    site.unbilled_charges[charge["id"]] = charge
    return charge


def _credit(site: Site, subscription: Record, amount: int) -> Record:
    """A prorated credit on the current term's invoice: taken off what is due, or refundable once paid."""
    terms = [
        i
        for i in site.invoices.values()
        if i.get("subscription_id") == subscription["id"] and i["status"] not in ("pending", "voided")
    ]
    if not terms:
        raise wire.invalid_state(f"subscription {subscription['id']} has no invoice to credit the change on")
    invoice = max(terms, key=lambda i: i["date"])
    paid = invoice["status"] == "paid"
    room = invoice["amount_paid"] if paid else invoice["amount_due"]
    form = {
        "reference_invoice_id": invoice["id"],
        "type": "refundable" if paid else "adjustment",
        "reason_code": "subscription_change",
        "total": str(min(amount, room)),
    }
    note: Record = create_credit_note(site, form)["credit_note"]
    return note


def public(charge: Record) -> Record:
    return {key: value for key, value in charge.items() if key != "line"}


def list_unbilled(site: Site, ids: dict[str, str], query: Record) -> Record:
    records = [public(c) for c in site.unbilled_charges.values()]
    return wire.listed(records, query, "unbilled_charge", ("subscription_id", "customer_id", "id"))


def invoice_unbilled(site: Site, ids: dict[str, str], form: Record) -> Record:
    """`POST /unbilled_charges/invoice_unbilled_charges`: the unbilled charges of a subscription (or a customer)
    on an invoice now (`pending` when the subscription holds its invoices); none: no invoice."""
    subscription_id = wire.text(form, "subscription_id", max_length=50)
    customer_id = wire.text(form, "customer_id", max_length=50)
    if (subscription_id is None) == (customer_id is None):
        raise wire.wrong_value("subscription_id", "subscription_id : give a subscription or a customer, not both")
    chosen: list[Any] = [
        s
        for s in site.subscriptions.values()
        if s["id"] == subscription_id or (customer_id is not None and s["customer_id"] == customer_id)
    ]
    if subscription_id is not None and not chosen:
        raise wire.not_found("subscription", subscription_id)
    invoices = []
    for subscription in chosen:
        charges = [c for c in site.unbilled_charges.values() if c["subscription_id"] == subscription["id"]]
        if not charges:
            continue
        for charge in charges:
            del site.unbilled_charges[charge["id"]]
        pending = bool(subscription.get("create_pending_invoices"))
        lines = [dict(c["line"]) for c in charges]
        invoices.append(new_invoice(site, subscription, lines, pending=pending, first=False))
    return {"invoices": invoices}
