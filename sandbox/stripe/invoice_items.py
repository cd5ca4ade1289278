"""Invoice items: one-off charges (and Stripe's prorations) that wait for the customer's next invoice or sit on a
draft as `invoiceitem` lines; listing them; the invoice totals their lines make."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.stripe.catalog import require_currency
from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.state import Call, StripeState, now

INVOICEITEM_CREATE = frozenset(
    {
        "customer",
        "invoice",
        "subscription",
        "currency",
        "description",
        "quantity",
        "unit_amount",
        "amount",
        "price",
        "metadata",
    }
)
INVOICEITEM_LIST = PAGING | {"customer", "invoice", "pending"}


def recompute(invoice: dict[str, Any]) -> None:
    subtotal = sum(line["amount"] for line in invoice["lines"]["data"])
    credited = invoice["pre_payment_credit_notes_amount"]
    invoice.update(subtotal=subtotal, total=subtotal, amount_due=subtotal - credited)
    invoice["amount_remaining"] = invoice["amount_due"] - invoice["amount_paid"]


def create_invoiceitem(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    customer_id = params.req("customer")
    invoice_id, price_id = params.text("invoice"), params.text("price")
    quantity = params.integer("quantity", minimum=0)
    unit_amount, amount = params.integer("unit_amount"), params.integer("amount")
    currency = params.text("currency")
    metadata = {k: v for k, v in params.metadata().items() if v}
    if sum(x is not None for x in (price_id, unit_amount, amount)) != 1:
        raise InvalidParams("Pass exactly one of amount, unit_amount or price.", param="amount")
    if amount is not None and quantity not in (None, 1):
        raise InvalidParams("quantity cannot be combined with amount.", param="quantity")
    if price_id is None and currency is None:
        raise InvalidParams("Missing required param: currency.", param="currency", code="parameter_missing")
    customer = state.get("customers", customer_id, param="customer")
    price = state.get("prices", price_id, param="price") if price_id else None
    if price is not None:
        unit_amount, currency = price["unit_amount"], price["currency"]
    assert currency is not None
    currency = require_currency(currency, "currency")
    quantity = 1 if quantity is None else quantity
    total = amount if amount is not None else quantity * (unit_amount or 0)
    invoice = state.get("invoices", invoice_id, param="invoice") if invoice_id else None
    if invoice is not None:
        if invoice["status"] != "draft":
            raise invalid(
                f"Invoice {invoice_id} is no longer editable: only draft invoices take new items.",
                code="invoice_not_editable",
                param="invoice",
            )
        if invoice["customer"] != customer_id:
            raise invalid("The invoice belongs to a different customer.", param="invoice")
        if invoice["currency"] != currency:
            raise invalid(
                f"The currency {currency} does not match the invoice's currency {invoice['currency']}.",
                param="currency",
            )
    created = now()
    item = {
        "id": state.new_id("ii"),
        "object": "invoiceitem",
        "amount": total,
        "currency": currency,
        "customer": customer["id"],
        "date": created,
        "description": params.text("description"),
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": metadata,
        "period": {"start": created, "end": created},
        # Items priced ad hoc (unit_amount / amount) carry no price object in the emulator.
        "price": copy.deepcopy(price),
        "proration": False,
        "quantity": quantity,
        "subscription": params.text("subscription"),
        "tax_rates": [],
        "test_clock": customer["test_clock"],
        "unit_amount": unit_amount if amount is None else total,
        "unit_amount_decimal": str(unit_amount if amount is None else total),
    }
    if invoice is not None:
        line_for(invoice, item)
        recompute(invoice)
    return state.add("invoiceitems", item)


def pending_items(
    state: StripeState, customer_id: str, currency: str, subscription_id: str | None = None
) -> list[dict[str, Any]]:
    """The customer's invoice items in `currency` not on any invoice yet (the next invoice sweeps them in); with
    `subscription_id` only that subscription's, as an invoice made with `subscription` takes."""
    return [
        item
        for item in state.objects["invoiceitems"].values()
        if item["customer"] == customer_id
        and item["invoice"] is None
        and item["currency"] == currency
        and subscription_id in (None, item.get("subscription"))
    ]


def sweep_in(invoice: dict[str, Any], items: list[dict[str, Any]]) -> None:
    for item in items:
        item["invoice"] = invoice["id"]
        line_for(invoice, item)
    recompute(invoice)


def line_for(invoice: dict[str, Any], item: dict[str, Any]) -> None:
    invoice["lines"]["data"].append(
        {
            "id": f"il_{item['id'][3:]}",
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice_item": item["id"],
            "livemode": False,
            "metadata": dict(item["metadata"]),
            "period": dict(item["period"]),
            "price": copy.deepcopy(item["price"]),
            "proration": item["proration"],
            "quantity": item["quantity"],
            "subscription": item["subscription"],
            **({"subscription_item": item["subscription_item"]} if item.get("subscription_item") else {}),
            "tax_amounts": [],
            "tax_rates": [],
            "type": "invoiceitem",
        }
    )


def list_invoiceitems(call: Call) -> dict[str, Any]:
    """`GET /v1/invoiceitems`: newest first, filtered by `customer`, `invoice` and `pending` (on no invoice yet)."""
    params = call.params
    customer_id, invoice_id, pending = params.text("customer"), params.text("invoice"), params.flag("pending")
    found = [
        item
        for item in call.state.objects["invoiceitems"].values()
        if customer_id in (None, item["customer"])
        and invoice_id in (None, item["invoice"])
        and (pending is None or (item["invoice"] is None) == pending)
    ]
    return page(call, "invoiceitems", found, "/v1/invoiceitems")
