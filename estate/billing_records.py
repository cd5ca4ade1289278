"""Every billing system's records as one set for the demo's checks, as estate/ledgers.py does for the ERPs: Stripe's
state as it is, and Chargebee's customers, subscriptions, invoices and credit notes in the same record view (the
fields the checks read: `metadata.golden_id` / `deal_id` / `legal_entity`, `status` in Stripe's words, `total`,
`amount_paid`, `subscription`, `items.data[].price.product` and `quantity`, `invoice`), each marked with
`billing: chargebee`. A deal is then checked in whichever billing system its entity bills in, and a record in the
wrong one shows as a second one.

What Stripe has and Chargebee has not, in Chargebee's own terms: a subscription's end is the end of its last billing
cycle (`term_ends`: `current_term_end` plus the cycles left, at the subscription's time of day), not a `cancel_at`; a
payment is a transaction linked to the invoice (`payments`: the successful ones)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from canonical.contract import add_months
from connectors.stripe.mapping import product_id

Record = dict[str, Any]
# Chargebee's invoice status in Stripe's words (connectors/chargebee/mapping.invoice_status says the same).
INVOICE_STATUS = {"pending": "draft", "voided": "void", "paid": "paid"}  # payment_due, not_paid, posted: open


def billing_state(states: dict[str, Any]) -> dict[str, list[Record]]:
    """Stripe's customers, subscriptions, invoices and credit notes plus Chargebee's in Stripe's view."""
    stripe, chargebee = states["stripe"], states.get("chargebee") or {}
    merged: dict[str, list[Record]] = {
        kind: list(stripe.get(kind, [])) for kind in ("customers", "subscriptions", "invoices", "credit_notes")
    }
    for kind, records in chargebee_records(chargebee).items():
        merged[kind] += records
    return merged


def chargebee_records(site: dict[str, Any]) -> dict[str, list[Record]]:
    prices = {p["id"]: p for p in site.get("item_prices", [])}
    return {
        "customers": [
            {"id": c["id"], "metadata": {"golden_id": meta(c).get("c2c_golden_id")}, "billing": "chargebee"}
            for c in site.get("customers", [])
            if not c.get("deleted")
        ],
        "subscriptions": [subscription(s, prices) for s in site.get("subscriptions", []) if not s.get("deleted")],
        "invoices": [invoice(i) for i in site.get("invoices", []) if not i.get("deleted")],
        "credit_notes": [
            {
                "id": n["id"],
                "invoice": n.get("reference_invoice_id"),
                "total": n["total"],
                "status": "void" if n.get("status") == "voided" else "issued",
                "billing": "chargebee",
            }
            for n in site.get("credit_notes", [])
            if not n.get("deleted")
        ],
    }


def subscription(row: Record, prices: dict[str, Record]) -> Record:
    data = meta(row)
    # The zero-priced base plan is Chargebee's one plan per subscription, not a product of the deal.
    items = [
        {
            "price": {
                "product": product_id(prices.get(item["item_price_id"], {}).get("item_id", item["item_price_id"]))
            },
            "quantity": item.get("quantity", 1),
        }
        for item in row.get("subscription_items", [])
        if item.get("item_type") == "addon"
    ]
    return {
        "id": row["id"],
        "status": "canceled" if row.get("status") == "cancelled" else row.get("status"),
        "metadata": {"deal_id": data.get("c2c_deal_id"), "legal_entity": data.get("c2c_legal_entity")},
        "items": {"data": items},
        "term_ends": term_ends(row),
        "billing": "chargebee",
    }


def term_ends(row: Record) -> int | None:
    """When the subscription's last billing cycle ends (unix time); None while it renews without end."""
    if row.get("status") in ("non_renewing", "cancelled") and row.get("cancelled_at"):
        return int(row["cancelled_at"])
    left = row.get("remaining_billing_cycles")
    if left is None or row.get("current_term_end") is None:
        return None
    if row.get("billing_period_unit") != "month":  # a yearly term: the cycles left are years
        left *= 12 * int(row.get("billing_period", 1))
    else:
        left *= int(row.get("billing_period", 1))
    # Cycles are anchored on the start (month ends clamped), so count from the start, not from the term's end.
    started = datetime.fromtimestamp(row["started_at"], UTC)
    current = datetime.fromtimestamp(row["current_term_end"], UTC)
    served = _months_between(started, current)
    return int(add_months(started, served + left).timestamp())


def _months_between(start: datetime, end: datetime) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months if add_months(start, months) <= end else months - 1


def invoice(row: Record) -> Record:
    payments = [p for p in row.get("linked_payments", []) if p.get("txn_status") == "success"]
    return {
        "id": row["id"],
        "subscription": row.get("subscription_id"),
        "status": INVOICE_STATUS.get(row.get("status", ""), "open"),
        "total": row.get("total", 0),
        "amount_paid": row.get("amount_paid", 0),
        "currency": str(row.get("currency_code", "")).lower(),
        "metadata": {},
        "first_invoice": bool(row.get("first_invoice")),
        "payments": len(payments),
        "billing": "chargebee",
    }


def meta(record: Record) -> dict[str, Any]:
    """A Chargebee record's meta_data (a JSON object, or its text)."""
    value = record.get("meta_data") or {}
    return value if isinstance(value, dict) else json.loads(value)
