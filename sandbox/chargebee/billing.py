"""Subscriptions for items and what they bill: invoices and payments (transactions); credit notes are in
credit_notes.py.

A subscription's first invoice is generated at once; with `create_pending_invoices` and `first_invoice_pending`
it stays `pending` (charges can be added) until `close`. Invoice statuses: pending, posted, payment_due, not_paid,
paid, voided. `collect_payment` charges the customer's payment method (a `reference_id` containing "decline", any case,
is declined); `record_payment` records an offline payment. `billing_cycles` (the first term included) leaves
`remaining_billing_cycles` after the current term; at 0 the subscription is `non_renewing` and ends with its term.
Renewals and changes are in time_machine.py and changes.py.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from sandbox.chargebee import wire
from sandbox.chargebee.catalog import get
from sandbox.chargebee.state import Record, Site, now, touch
from sandbox.chargebee.wire import ApiError

UNPAID = ("payment_due", "not_paid", "posted")
OFFLINE_METHODS = ("cash", "check", "bank_transfer", "other", "chargeback", "custom")


def add_period(moment: int, period: int, unit: str, anchor_day: int | None = None) -> int:
    """`moment` moved by the plan's period; months keep the billing date (`anchor_day`, the subscription's start
    day), on a shorter month its last day, as Chargebee renews on the same date each month."""
    start = datetime.fromtimestamp(moment, UTC)
    if unit in ("day", "week"):
        return moment + period * (86_400 if unit == "day" else 604_800)
    months = period * (12 if unit == "year" else 1)
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    day = min(anchor_day or start.day, calendar.monthrange(year, month + 1)[1])
    return int(start.replace(year=year, month=month + 1, day=day).timestamp())


def item_price(site: Site, row: Record, index: int) -> tuple[str, str, Record]:
    """Row `index` of a form's `subscription_items`: (its parameter's name, the item price id, the item price);
    Chargebee's errors for a missing or unknown one."""
    param = f"subscription_items[item_price_id][{index}]"
    price_id = wire.text(row, "item_price_id", max_length=100)
    if price_id is None:
        raise wire.missing(param)
    price = site.item_prices.get(price_id)
    if price is None:
        raise ApiError(404, "resource_not_found", f"{param} : item price {price_id} is not present", param=param)
    return param, price_id, price


def create_with_items(site: Site, customer_id: str, form: Record) -> Record:
    """`POST /customers/{id}/subscription_for_items`: exactly one plan item price, any addons, one currency."""
    customer = get(site.customers, "customer", customer_id)
    subscription_id = wire.record_id(form) or site.new_id("sub")
    if subscription_id in site.subscriptions:
        raise ApiError(400, "duplicate_entry", f"The value {subscription_id} is already present.", param="id")
    given = wire.rows(form, "subscription_items")
    if not given:
        raise wire.missing("subscription_items[item_price_id][0]")
    items: list[Record] = []
    plan: Record | None = None
    for index, row in enumerate(given):
        param, price_id, price = item_price(site, row, index)
        quantity = wire.integer(row, "quantity", low=1, high=10**9) or 1
        unit = wire.integer(row, "unit_price", high=10**13)
        unit = price["price"] if unit is None else unit
        if price["item_type"] == "plan":
            if plan is not None:
                raise wire.wrong_value(param, f"{param} : a subscription has exactly one plan item price")
            plan = price
        elif price["item_type"] != "addon":
            raise wire.wrong_value(param, f"{param} : a charge cannot be a subscription item")
        items.append(
            {
                "item_price_id": price_id,
                "item_type": price["item_type"],
                "quantity": quantity,
                "unit_price": unit,
                "amount": unit * quantity,
                "free_quantity": 0,
                "object": "subscription_item",
            }
        )
    if plan is None:
        raise wire.wrong_value("subscription_items[item_price_id][0]", "a plan item price is mandatory")
    currencies = {site.item_prices[item["item_price_id"]]["currency_code"] for item in items}
    if len(currencies) != 1:
        raise wire.wrong_value("subscription_items", "all item prices must be in one currency")
    periods = {
        (site.item_prices[i["item_price_id"]]["period"], site.item_prices[i["item_price_id"]]["period_unit"])
        for i in items
    }
    if len(periods) != 1:
        raise wire.wrong_value("subscription_items", "addon item prices must have the plan's billing period")
    pending = wire.boolean(form, "create_pending_invoices", False)
    first_pending = wire.boolean(form, "first_invoice_pending", False)
    if first_pending and not pending:
        raise wire.wrong_value("first_invoice_pending", "first_invoice_pending : needs create_pending_invoices")
    started = now()
    term_end = add_period(started, plan["period"], plan["period_unit"])
    cycles = wire.integer(form, "billing_cycles", low=1, high=10_000)
    subscription: Record = {
        "id": subscription_id,
        "customer_id": customer_id,
        "status": "active",
        "currency_code": currencies.pop(),
        "billing_period": plan["period"],
        "billing_period_unit": plan["period_unit"],
        "current_term_start": started,
        "current_term_end": term_end,
        "next_billing_at": term_end,
        "started_at": started,
        "activated_at": started,
        "created_at": started,
        "auto_collection": wire.choice(form, "auto_collection", ("on", "off")) or customer["auto_collection"],
        "net_term_days": wire.integer(form, "net_term_days", high=365),
        "billing_cycles": cycles,
        # billing cycles left after the current one: 0 makes the subscription non_renewing (it ends with the term)
        "remaining_billing_cycles": None if cycles is None else cycles - 1,
        "create_pending_invoices": pending,
        "subscription_items": items,
        "meta_data": wire.json_object(form, "meta_data") or None,
        "has_scheduled_changes": False,
        "deleted": False,
        "object": "subscription",
    }
    subscription.update(wire.custom_fields(form))
    subscription = {key: value for key, value in subscription.items() if value is not None}
    if subscription.get("remaining_billing_cycles") == 0:
        subscription["status"], subscription["cancelled_at"] = "non_renewing", term_end
    site.subscriptions[subscription_id] = touch(subscription)
    site.emit("subscription_created", {"subscription": subscription, "customer": customer})
    invoice = _first_invoice(site, subscription, customer, first_pending)
    return {"subscription": subscription, "customer": customer, "invoice": invoice}


def _first_invoice(site: Site, subscription: Record, customer: Record, pending: bool) -> Record:
    start, end = subscription["current_term_start"], subscription["current_term_end"]
    return new_invoice(site, subscription, term_lines(site, subscription, start, end), pending=pending, first=True)


def term_lines(site: Site, subscription: Record, start: int, end: int) -> list[Record]:
    """A line per subscription item for the term [start, end)."""
    return [
        line_item(site, subscription, item, start, end, item["quantity"], item["amount"])
        for item in subscription["subscription_items"]
    ]


def line_item(
    site: Site, subscription: Record, item: Record, start: int, end: int, quantity: int, amount: int
) -> Record:
    price = site.item_prices[item["item_price_id"]]
    return {
        "id": site.new_id("li"),
        "date_from": start,
        "date_to": end,
        "unit_amount": item["unit_price"],
        "quantity": quantity,
        "amount": amount,
        "pricing_model": price["pricing_model"],
        "is_taxed": False,
        "tax_amount": 0,
        "discount_amount": 0,
        "item_level_discount_amount": 0,
        "subscription_id": subscription["id"],
        "customer_id": subscription["customer_id"],
        "description": price["name"],
        "entity_type": f"{item['item_type']}_item_price",
        "entity_id": item["item_price_id"],
        "object": "line_item",
    }


def new_invoice(site: Site, subscription: Record, lines: list[Record], *, pending: bool, first: bool) -> Record:
    """An invoice of the subscription dated now (`recurring`: it belongs to a subscription), held `pending` or
    generated; `first_invoice` only on the subscription's first."""
    customer = site.customers[subscription["customer_id"]]
    net_term = int(subscription.get("net_term_days") or customer["net_term_days"] or 0)
    dated = now()
    invoice: Record = {
        "id": site.new_number("INV"),
        "customer_id": customer["id"],
        "subscription_id": subscription["id"],
        "recurring": True,
        "first_invoice": first,
        "status": "pending" if pending else "payment_due",
        "price_type": "tax_exclusive",
        "date": dated,
        "due_date": dated + net_term * 86_400,
        "net_term_days": net_term,
        "currency_code": subscription["currency_code"],
        "line_items": lines,
        "amount_paid": 0,
        "amount_adjusted": 0,
        "write_off_amount": 0,
        "credits_applied": 0,
        "tax": 0,
        "linked_payments": [],
        "issued_credit_notes": [],
        "adjustment_credit_notes": [],
        "deleted": False,
        "object": "invoice",
    }
    totals(invoice)
    site.invoices[invoice["id"]] = touch(invoice)
    if pending:
        site.emit("pending_invoice_created", {"invoice": invoice})
    else:
        _generated(site, invoice)
    return invoice


def totals(invoice: Record) -> None:
    total = sum(line["amount"] for line in invoice["line_items"])
    invoice["sub_total"] = total
    invoice["total"] = total
    invoice["amount_due"] = total - invoice["amount_paid"] - invoice["amount_adjusted"] - invoice["write_off_amount"]


def _generated(site: Site, invoice: Record) -> None:
    invoice["generated_at"] = now()
    if invoice["amount_due"] == 0:
        invoice["status"], invoice["paid_at"] = "paid", now()
    site.emit("invoice_generated", {"invoice": invoice})
    subscription = site.subscriptions.get(invoice.get("subscription_id") or "")
    customer = site.customers[invoice["customer_id"]]
    auto = (subscription or customer).get("auto_collection") == "on"
    if auto and invoice["status"] == "payment_due" and customer.get("payment_method"):
        try:
            charge(site, invoice, None)
        except ApiError:
            pass  # a declined automatic charge leaves the invoice not_paid, as Chargebee does


def add_charge(site: Site, invoice_id: str, form: Record) -> Record:
    invoice = get(site.invoices, "invoice", invoice_id)
    if invoice["status"] != "pending":
        raise wire.invalid_state(f"invoice {invoice_id} is {invoice['status']}; charges go on pending invoices only")
    amount = wire.integer(form, "amount", required=True, low=1, high=10**13)
    description = wire.text(form, "description", required=True, max_length=250)
    given = form.get("line_item")
    line_item: Record = given if isinstance(given, dict) else {}
    invoice["line_items"].append(
        {
            "id": site.new_id("li"),
            "date_from": wire.integer(line_item, "date_from") or invoice["date"],
            "date_to": wire.integer(line_item, "date_to") or invoice["date"],
            "unit_amount": amount,
            "quantity": 1,
            "amount": amount,
            "pricing_model": "flat_fee",
            "is_taxed": False,
            "tax_amount": 0,
            "discount_amount": 0,
            "item_level_discount_amount": 0,
            "subscription_id": invoice.get("subscription_id"),
            "customer_id": invoice["customer_id"],
            "description": description,
            "entity_type": "adhoc",
            "object": "line_item",
        }
    )
    totals(invoice)
    touch(invoice)
    site.emit("invoice_updated", {"invoice": invoice})
    return invoice


def close(site: Site, invoice_id: str, form: Record) -> Record:
    invoice = get(site.invoices, "invoice", invoice_id)
    if invoice["status"] != "pending":
        raise wire.invalid_state(f"invoice {invoice_id} is {invoice['status']}; only a pending invoice can be closed")
    invoice["status"] = "payment_due"
    invoice_date = wire.integer(form, "invoice_date")
    if invoice_date is not None:
        invoice["due_date"] += invoice_date - invoice["date"]
        invoice["date"] = invoice_date
    touch(invoice)
    _generated(site, invoice)
    return invoice


def charge(site: Site, invoice: Record, amount: int | None) -> Record:
    """Charge the customer's payment method for the invoice: a transaction, success or failure."""
    if invoice["status"] not in UNPAID:
        raise wire.invalid_state(f"invoice {invoice['id']} is {invoice['status']}; there is nothing to collect")
    customer = site.customers[invoice["customer_id"]]
    method = customer.get("payment_method")
    if not method:
        raise ApiError(
            400, "payment_method_not_present", "The customer has no payment method on file.", type_="payment"
        )
    amount = invoice["amount_due"] if amount is None else amount
    if not 0 < amount <= invoice["amount_due"]:
        raise wire.wrong_value("amount", f"amount : must be from 1 to the amount due {invoice['amount_due']}")
    declined = "decline" in method["reference_id"].lower()
    transaction = _transaction(site, invoice, amount, "card", "failure" if declined else "success", None)
    if declined:
        transaction.update(error_code="card_declined", error_text="Your card was declined.")
        invoice["status"] = "not_paid"
        invoice["linked_payments"].append(_linked(transaction, 0))
        touch(invoice)
        site.emit("payment_failed", {"transaction": transaction, "invoice": invoice, "customer": customer})
        raise ApiError(
            400,
            "payment_processing_failed",
            "Invoice could not be paid: (card_declined) Your card was declined.",
            type_="payment",
            error_code="payment_processing_failed",
        )
    _apply(site, invoice, transaction)
    return transaction


def record_payment(site: Site, invoice_id: str, form: Record) -> Record:
    invoice = get(site.invoices, "invoice", invoice_id)
    if invoice["status"] not in UNPAID:
        raise wire.invalid_state(f"invoice {invoice_id} is {invoice['status']}; no payment can be recorded")
    given = form.get("transaction")
    if not isinstance(given, dict):
        raise wire.missing("transaction[payment_method]")
    method = wire.choice(given, "payment_method", OFFLINE_METHODS) or _missing_method()
    amount = wire.integer(given, "amount", low=1, high=10**13) or invoice["amount_due"]
    if amount > invoice["amount_due"]:
        raise wire.wrong_value("transaction[amount]", "transaction[amount] : is more than the amount due")
    reference = wire.text(given, "reference_number", max_length=100)
    transaction = _transaction(site, invoice, amount, method, "success", reference)
    _apply(site, invoice, transaction)
    return transaction


def _missing_method() -> str:
    raise wire.missing("transaction[payment_method]")


def _transaction(site: Site, invoice: Record, amount: int, method: str, status: str, reference: str | None) -> Record:
    transaction: Record = {
        "id": site.new_id("txn"),
        "customer_id": invoice["customer_id"],
        "subscription_id": invoice.get("subscription_id"),
        "payment_method": method,
        "gateway": "chargebee" if method == "card" else "not_applicable",
        "type": "payment",
        "date": now(),
        "amount": amount,
        "currency_code": invoice["currency_code"],
        "status": status,
        "amount_unused": 0,
        "linked_invoices": [
            {
                "invoice_id": invoice["id"],
                "applied_amount": amount if status == "success" else 0,
                "applied_at": now(),
                "invoice_date": invoice["date"],
                "invoice_total": invoice["total"],
                "invoice_status": invoice["status"],
            }
        ],
        "deleted": False,
        "object": "transaction",
    }
    if reference is not None:
        transaction["reference_number"] = reference
    site.transactions[transaction["id"]] = touch(transaction)
    return transaction


def _apply(site: Site, invoice: Record, transaction: Record) -> None:
    invoice["amount_paid"] += transaction["amount"]
    totals(invoice)
    if invoice["amount_due"] == 0:
        invoice["status"], invoice["paid_at"] = "paid", now()
    invoice["linked_payments"].append(_linked(transaction, transaction["amount"]))
    transaction["linked_invoices"][0]["invoice_status"] = invoice["status"]
    touch(invoice)
    customer = site.customers[invoice["customer_id"]]
    site.emit("payment_succeeded", {"transaction": transaction, "invoice": invoice, "customer": customer})


def _linked(transaction: Record, applied: int) -> Record:
    """An invoice's `linked_payments` entry: every attempt, a failed one with nothing applied."""
    return {
        "txn_id": transaction["id"],
        "applied_amount": applied,
        "applied_at": now(),
        "txn_status": transaction["status"],
        "txn_date": transaction["date"],
        "txn_amount": transaction["amount"],
    }


def void(site: Site, invoice_id: str, form: Record) -> Record:
    invoice = get(site.invoices, "invoice", invoice_id)
    if invoice["status"] == "voided":
        raise wire.invalid_state(f"invoice {invoice_id} is already voided")
    if invoice["amount_paid"] > 0:
        raise wire.invalid_state(f"invoice {invoice_id} has payments applied; it cannot be voided")
    invoice["status"], invoice["voided_at"] = "voided", now()
    invoice["void_reason_code"] = wire.text(form, "void_reason_code", max_length=100)
    invoice["amount_due"] = 0
    touch(invoice)
    site.emit("invoice_updated", {"invoice": invoice})
    return invoice


def update_subscription(site: Site, subscription_id: str, form: Record) -> Record:
    """`POST /subscriptions/{id}`: the parts c2c changes, `meta_data` (replaced whole) and custom fields."""
    subscription = get(site.subscriptions, "subscription", subscription_id)
    unknown = sorted(set(form) - {"meta_data"} - {key for key in form if key.startswith("cf_")})
    if unknown:
        raise wire.wrong_value(unknown[0], f"{unknown[0]} : this emulator updates meta_data and cf_* only")
    if "meta_data" in form:
        subscription["meta_data"] = wire.json_object(form, "meta_data")
    subscription.update(wire.custom_fields(form))
    touch(subscription)
    customer = site.customers[subscription["customer_id"]]
    site.emit("subscription_changed", {"subscription": subscription, "customer": customer})
    return {"subscription": subscription, "customer": customer}


def cancel(site: Site, subscription_id: str, form: Record) -> Record:
    """`POST /subscriptions/{id}/cancel_for_items`: now (default; `subscription_cancelled`) or at the end of the term
    (`non_renewing`, `subscription_cancellation_scheduled`; cancelled when the term ends, see time_machine.py)."""
    subscription = get(site.subscriptions, "subscription", subscription_id)
    if subscription["status"] == "cancelled":
        raise wire.invalid_state(f"subscription {subscription_id} is already cancelled")
    scheduled = wire.boolean(form, "end_of_term", False)
    if scheduled:
        subscription["status"], subscription["cancelled_at"] = "non_renewing", subscription["current_term_end"]
        subscription["cancel_schedule_created_at"] = now()
    else:
        subscription["status"], subscription["cancelled_at"] = "cancelled", now()
        subscription.pop("next_billing_at", None)
    touch(subscription)
    customer = site.customers[subscription["customer_id"]]
    kind = "subscription_cancellation_scheduled" if scheduled else "subscription_cancelled"
    site.emit(kind, {"subscription": subscription, "customer": customer})
    return {"subscription": subscription, "customer": customer}
