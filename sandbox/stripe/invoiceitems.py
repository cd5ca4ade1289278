"""Invoice items not yet on an invoice ("pending"): `GET /v1/invoiceitems` and what the next invoice sweeps in.

As Stripe documents: the list is filtered by `customer`, `invoice` and `pending` (true: on no invoice yet), newest
first with the usual paging. An invoice created with `subscription` only takes that subscription's pending items.
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.state import Call, StripeState

INVOICEITEM_LIST = PAGING | {"customer", "invoice", "pending"}


def pending_items(
    state: StripeState, customer_id: str, currency: str, subscription_id: str | None = None
) -> list[dict[str, Any]]:
    """The customer's invoice items in `currency` on no invoice yet (the next invoice sweeps them in); with
    `subscription_id`, only that subscription's."""
    return [
        item
        for item in state.objects["invoiceitems"].values()
        if item["customer"] == customer_id
        and item["invoice"] is None
        and item["currency"] == currency
        and (subscription_id is None or item.get("subscription") == subscription_id)
    ]


def list_invoiceitems(call: Call) -> dict[str, Any]:
    params = call.params
    customer, invoice, pending = params.text("customer"), params.text("invoice"), params.flag("pending")
    found = [
        item
        for item in call.state.objects["invoiceitems"].values()
        if (customer is None or item["customer"] == customer)
        and (invoice is None or item["invoice"] == invoice)
        and (pending is None or (item["invoice"] is None) == pending)
    ]
    return page(call, "invoiceitems", found, "/v1/invoiceitems")
