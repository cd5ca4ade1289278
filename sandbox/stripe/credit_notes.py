"""Credit notes: crediting an unpaid invoice (less is due) or a paid one (the customer's balance); listing them.

Stripe documents credit notes for open and paid invoices; an uncollectible invoice is credited like an open
one (pre_payment: less is due), which Stripe's Dashboard also offers. Crediting all that remains of an unpaid
invoice settles it: it becomes `paid` with nothing charged (`invoice.paid`, no `invoice.payment_succeeded`)."""

from __future__ import annotations

from typing import Any

from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.forms import Params
from sandbox.stripe.invoice_items import recompute
from sandbox.stripe.invoices import UNPAID, mark_paid
from sandbox.stripe.payments import create_refund
from sandbox.stripe.state import Call, StripeState, list_object, now

CREDIT_NOTE_CREATE = frozenset(
    {"invoice", "amount", "lines", "reason", "memo", "metadata", "refund_amount", "credit_amount", "out_of_band_amount"}
)
CREDIT_NOTE_LIST = frozenset({"invoice", "customer", "limit", "starting_after", "ending_before"})
_CREDIT_LINE = frozenset({"type", "invoice_line_item", "quantity", "amount", "unit_amount", "description"})
CREDIT_REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")


def create_credit_note(call: Call) -> dict[str, Any]:
    """Credit an open or uncollectible invoice (reduces what is due) or a paid one (credits the customer's
    balance)."""
    state, params = call.state, call.params
    invoice_id = params.req("invoice")
    amount = params.integer("amount", minimum=1)
    lines = params.objects("lines", _CREDIT_LINE)
    reason = params.text("reason", choices=CREDIT_REASONS)
    memo = params.text("memo")
    metadata = {k: v for k, v in params.metadata().items() if v}
    split = {name: params.integer(name, minimum=0) for name in _SPLIT}
    if amount is None and not lines:
        raise InvalidParams("Pass an amount or lines.", param="amount", code="parameter_missing")
    invoice = state.get("invoices", invoice_id, param="invoice")
    if invoice["status"] not in (*UNPAID, "paid"):
        raise invalid(
            "Credit notes can only be issued for open, uncollectible or paid invoices; "
            f"this invoice is {invoice['status']}.",
            code="invoice_not_open",
            param="invoice",
        )
    note_id = state.new_id("cn")
    note_lines = [_credit_line(state, invoice, line) for line in lines]
    if amount is None:
        amount = sum(line["amount"] for line in note_lines)
    elif not note_lines:
        note_lines = [_custom_line(state, amount, memo or "Credit")]
    elif amount != sum(line["amount"] for line in note_lines):
        raise invalid("The amount must equal the sum of the lines.", param="amount")
    paid = invoice["status"] == "paid"
    limit = invoice["amount_remaining"]
    if paid:
        limit = invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
    if amount > limit:
        raise invalid(
            f"The credit note amount ({amount}) is greater than the amount that can be credited ({limit}).",
            code="amount_too_large",
            param="amount",
        )
    refund_amount, credit_amount, out_of_band = _split(invoice, amount, split)
    refund = None
    if refund_amount:
        refund_params = {"payment_intent": invoice["payment_intent"] or "", "amount": str(refund_amount)}
        refund = create_refund(Call(state, Params(refund_params, None), call.request_id, None, call.api_version))
    customer = state.get("customers", invoice["customer"])
    count = sum(1 for note in state.objects["credit_notes"].values() if note["invoice"] == invoice_id)
    note = {
        "id": note_id,
        "_seq": len(state.objects["credit_notes"]),
        "object": "credit_note",
        "amount": amount,
        "created": now(),
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_balance_transaction": None,
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice": invoice_id,
        "lines": list_object(note_lines, f"/v1/credit_notes/{note_id}/lines"),
        "livemode": False,
        "memo": memo,
        "metadata": metadata,
        "number": f"{invoice['number']}-CN-{count + 1:02d}",
        "out_of_band_amount": out_of_band or None,
        "pdf": f"/_sandbox/credit_notes/{note_id}/pdf",
        "reason": reason,
        "refund": refund["id"] if refund else None,
        "status": "issued",
        "subtotal": amount,
        "tax_amounts": [],
        "total": amount,
        "type": "post_payment" if paid else "pre_payment",
        "voided_at": None,
    }
    if paid:
        invoice["post_payment_credit_notes_amount"] += amount
        if credit_amount:
            customer["balance"] -= credit_amount
            note["customer_balance_transaction"] = state.new_id("cbtxn")
    else:
        invoice["pre_payment_credit_notes_amount"] += amount
        recompute(invoice)
        if invoice["amount_remaining"] == 0:
            mark_paid(call, invoice)
    return state.add("credit_notes", note)


_SPLIT = ("refund_amount", "credit_amount", "out_of_band_amount")


def _split(invoice: dict[str, Any], amount: int, split: dict[str, int | None]) -> tuple[int, int, int]:
    """How a credit note's total is given back, as Stripe documents: on a paid invoice `refund_amount` (a refund of
    the invoice's charge) + `credit_amount` (the customer's balance) + `out_of_band_amount` must equal the total;
    none given credits it all to the balance. An unpaid invoice takes none of them: the credit lowers what is due."""
    given = {name: value for name, value in split.items() if value is not None}
    if invoice["status"] != "paid":
        if given:
            raise invalid(
                f"{', '.join(sorted(given))} can only be used on a credit note for a paid invoice; on an unpaid "
                "invoice the credit note reduces the amount due.",
                param=sorted(given)[0],
            )
        return 0, 0, 0
    if not given:
        return 0, amount, 0
    refund_amount, credit_amount, out_of_band = (split[name] or 0 for name in _SPLIT)
    given_total = refund_amount + credit_amount + out_of_band
    if given_total != amount:
        raise invalid(
            f"The sum of refund_amount, credit_amount and out_of_band_amount ({given_total}) must equal the "
            f"credit note amount ({amount}).",
            param="refund_amount" if refund_amount else sorted(given)[0],
        )
    if refund_amount and not invoice["payment_intent"]:
        raise invalid(
            f"Invoice {invoice['id']} has no charge to refund; use credit_amount or out_of_band_amount.",
            param="refund_amount",
        )
    return refund_amount, credit_amount, out_of_band


def _custom_line(state: StripeState, amount: int, description: str) -> dict[str, Any]:
    return {
        "id": state.new_id("cnli"),
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": 0,
        "discount_amounts": [],
        "livemode": False,
        "quantity": 1,
        "tax_amounts": [],
        "tax_rates": [],
        "type": "custom_line_item",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def _credit_line(state: StripeState, invoice: dict[str, Any], line: Any) -> dict[str, Any]:
    kind = line.req("type", choices=("invoice_line_item", "custom_line_item"))
    if kind == "custom_line_item":
        quantity = line.integer("quantity", minimum=1) or 1
        unit_amount = line.integer("unit_amount", required=True, minimum=1)
        result = _custom_line(state, quantity * unit_amount, line.text("description") or "Credit")
        result.update(quantity=quantity, unit_amount=unit_amount, unit_amount_decimal=str(unit_amount))
        return result
    line_id = line.req("invoice_line_item")
    source = next((x for x in invoice["lines"]["data"] if x["id"] == line_id), None)
    if source is None:
        raise invalid(f"No such invoice line item: '{line_id}'", code="resource_missing", param="lines")
    amount = line.integer("amount", minimum=1)
    quantity = line.integer("quantity", minimum=1)
    if amount is None:
        amount = source["amount"] if quantity is None else source["amount"] // source["quantity"] * quantity
    result = _custom_line(state, amount, source["description"] or "")
    result.update(type="invoice_line_item", invoice_line_item=line_id, quantity=quantity or source["quantity"])
    result.update(unit_amount=None, unit_amount_decimal=None)
    return result


def get_credit_note(call: Call, note_id: str) -> dict[str, Any]:
    return call.state.get("credit_notes", note_id)


def list_credit_notes(call: Call) -> dict[str, Any]:
    """Newest first, filtered by `invoice` / `customer`, paged with `limit` (1-100, default 10) and
    `starting_after` / `ending_before` (a credit note id of the previous page)."""
    params = call.params
    invoice_id, customer_id = params.text("invoice"), params.text("customer")
    limit = params.integer("limit", minimum=1) or 10
    after, before = params.text("starting_after"), params.text("ending_before")
    if limit > 100:
        raise InvalidParams("Invalid integer: limit must be at most 100", param="limit")
    if after and before:
        raise InvalidParams("You may only specify one of these parameters: ending_before, starting_after.")
    notes = sorted(call.state.objects["credit_notes"].values(), key=lambda n: n["_seq"], reverse=True)
    found = [
        n
        for n in notes
        if (invoice_id is None or n["invoice"] == invoice_id) and (customer_id is None or n["customer"] == customer_id)
    ]
    ids = [n["id"] for n in found]
    cursor = after or before
    if cursor is not None and cursor not in ids:
        call.state.get("credit_notes", cursor, param="starting_after" if after else "ending_before")
        found = []  # a credit note that the filters leave out: nothing around it
    if before is not None and found:
        rest = found[: ids.index(before)]
        page = rest[-limit:]
    else:
        rest = found[ids.index(after) + 1 :] if after is not None and found else found
        page = rest[:limit]
    result = list_object(page, "/v1/credit_notes")
    result["has_more"] = len(rest) > limit
    return result
