"""Invoice items, invoices (draft -> open -> paid | void) and credit notes."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.stripe.catalog import payment_method_of, require_currency
from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.payments import charge_invoice
from sandbox.stripe.state import Call, list_object, now
from sandbox.stripe.subscriptions import currency_of

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
INVOICE_CREATE = frozenset(
    {
        "customer",
        "subscription",
        "currency",
        "collection_method",
        "days_until_due",
        "auto_advance",
        "metadata",
        "pending_invoice_items_behavior",
        "description",
        "footer",
        "default_payment_method",
    }
)
INVOICE_FINALIZE = frozenset({"auto_advance"})
INVOICE_PAY = frozenset({"payment_method", "off_session"})
INVOICE_VOID: frozenset[str] = frozenset()
CREDIT_NOTE_CREATE = frozenset({"invoice", "amount", "lines", "reason", "memo", "metadata"})
_CREDIT_LINE = frozenset({"type", "invoice_line_item", "quantity", "amount", "unit_amount", "description"})
# Stripe's error code for acting on a payment intent in a state that does not allow it (here: processing).
PAYMENT_PROCESSING = "payment_intent_unexpected_state"
CREDIT_REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")


def _recompute(invoice: dict[str, Any]) -> None:
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
        "test_clock": None,
        "unit_amount": unit_amount if amount is None else total,
        "unit_amount_decimal": str(unit_amount if amount is None else total),
    }
    if invoice is not None:
        _line_for(invoice, item)
        _recompute(invoice)
    return state.add("invoiceitems", item)


def create_invoice(call: Call) -> dict[str, Any]:
    """Draft invoice; pending items are only swept in without `pending_invoice_items_behavior=exclude`."""
    state, params = call.state, call.params
    customer_id = params.req("customer")
    subscription_id = params.text("subscription")
    method = params.text("collection_method", choices=("charge_automatically", "send_invoice"))
    method = method or "charge_automatically"
    days_until_due = params.integer("days_until_due", minimum=0)
    if method == "send_invoice" and days_until_due is None:
        raise InvalidParams("Missing required param: days_until_due.", param="days_until_due")
    if method == "charge_automatically" and days_until_due is not None:
        raise InvalidParams(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    behavior = params.text("pending_invoice_items_behavior", choices=("exclude", "include", "include_and_require"))
    auto_advance = params.flag("auto_advance")
    currency = params.text("currency")
    customer = state.get("customers", customer_id, param="customer")
    subscription = state.get("subscriptions", subscription_id, param="subscription") if subscription_id else None
    if subscription is not None and subscription["customer"] != customer_id:
        raise invalid("The subscription belongs to a different customer.", param="subscription")
    if currency is not None:
        currency = require_currency(currency, "currency")
    elif subscription is not None:
        currency = currency_of(subscription)
    else:
        currency = customer["currency"] or "usd"
    created = now()
    invoice: dict[str, Any] = {
        "id": state.new_id("in"),
        "object": "invoice",
        "account_country": "US",
        "account_name": "c2c sandbox",
        "amount_due": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": False if auto_advance is None else auto_advance,
        "automatic_tax": {"enabled": False, "status": None},
        "billing_reason": "subscription" if subscription else "manual",
        "charge": None,
        "collection_method": method,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer_id,
        "customer_address": copy.deepcopy(customer["address"]),
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "default_payment_method": params.text("default_payment_method"),
        "default_tax_rates": [],
        "description": params.text("description"),
        "discount": None,
        "discounts": [],
        "due_date": created + days_until_due * 86_400 if days_until_due is not None else None,
        "ending_balance": None,
        "footer": params.text("footer"),
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": ""},
        "livemode": False,
        "metadata": {k: v for k, v in params.metadata().items() if v},
        "number": None,
        "paid": False,
        "paid_out_of_band": False,
        "payment_intent": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None},
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": subscription_id,
        "subtotal": 0,
        "tax": 0,
        "total": 0,
        "total_tax_amounts": [],
        "webhooks_delivered_at": None,
    }
    invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
    pending = [
        item
        for item in state.objects["invoiceitems"].values()
        if item["customer"] == customer_id and item["invoice"] is None and item["currency"] == currency
    ]
    if behavior == "include_and_require" and not pending:
        raise invalid("Nothing to invoice for customer", code="invoice_no_customer_line_items")
    if behavior != "exclude":
        # Stripe's default sweeps the customer's pending items of the invoice currency into it.
        for item in pending:
            item["invoice"] = invoice["id"]
            _line_for(invoice, item)
        _recompute(invoice)
    return state.add("invoices", invoice)


def _line_for(invoice: dict[str, Any], item: dict[str, Any]) -> None:
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
            "proration": False,
            "quantity": item["quantity"],
            "subscription": item["subscription"],
            "tax_amounts": [],
            "tax_rates": [],
            "type": "invoiceitem",
        }
    )


def get_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    return call.state.get("invoices", invoice_id)


def _finalize(call: Call, invoice: dict[str, Any]) -> None:
    customer = call.state.get("customers", invoice["customer"])
    invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = now()
    invoice["ending_balance"] = 0
    base = f"/_sandbox/invoices/{invoice['id']}"
    invoice.update(hosted_invoice_url=base, invoice_pdf=f"{base}/pdf")
    call.state.emit(call, "invoice.finalized", invoice)
    if invoice["amount_remaining"] == 0:
        mark_paid(call, invoice)


def mark_paid(call: Call, invoice: dict[str, Any]) -> None:
    invoice["amount_paid"] += invoice["amount_remaining"]
    invoice["amount_remaining"] = 0
    invoice.update(status="paid", paid=True)
    invoice["status_transitions"]["paid_at"] = now()
    call.state.emit(call, "invoice.paid", invoice)


def finalize_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    auto_advance = call.params.flag("auto_advance")
    invoice = call.state.get("invoices", invoice_id)
    if invoice["status"] != "draft":
        raise invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    _finalize(call, invoice)
    return invoice


def pay_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Charge the customer's payment method (finalizing a draft first), as `POST /pay` does.

    Refused (400 payment_intent_unexpected_state) while an earlier bank debit of the invoice is processing."""
    state = call.state
    payment_method = call.params.text("payment_method")
    invoice = state.get("invoices", invoice_id)
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] == "void":
        raise invalid("This invoice can no longer be paid because it is void.", code="invoice_not_open")
    _refuse_while_processing(call, invoice, "paid")
    if invoice["status"] == "draft":
        _finalize(call, invoice)
        if invoice["status"] == "paid":
            return invoice
    elif invoice["amount_remaining"] == 0:
        mark_paid(call, invoice)
        return invoice
    customer = state.get("customers", invoice["customer"])
    method = payment_method or invoice["default_payment_method"] or payment_method_of(customer)
    intent = charge_invoice(call, invoice, customer, method)
    if intent["status"] == "succeeded":
        mark_paid(call, invoice)
    return invoice  # a bank debit leaves the invoice open until its intent settles


def _refuse_while_processing(call: Call, invoice: dict[str, Any], action: str) -> None:
    """An invoice whose payment is still `processing` (bank debit) can be neither paid again nor voided."""
    intent = call.state.objects["payment_intents"].get(invoice["payment_intent"] or "")
    if intent is not None and intent["status"] == "processing":
        raise invalid(
            f"This invoice cannot be {action} while its payment is processing: PaymentIntent {intent['id']} "
            "has status processing. Wait for it to succeed or fail.",
            code=PAYMENT_PROCESSING,
        )


def void_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    invoice = call.state.get("invoices", invoice_id)
    if invoice["status"] != "open":
        raise invalid(f"You can only void open invoices; this invoice is {invoice['status']}.", code="invoice_not_open")
    _refuse_while_processing(call, invoice, "voided")
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = now()
    call.state.emit(call, "invoice.voided", invoice)
    return invoice


def delete_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Only drafts can be deleted (they were never issued); open ones must be voided."""
    invoice = call.state.get("invoices", invoice_id)
    if invoice["status"] != "draft":
        raise invalid(
            f"You can only delete draft invoices; this invoice is {invoice['status']}.", code="invoice_not_editable"
        )
    del call.state.objects["invoices"][invoice_id]
    return {"id": invoice_id, "object": "invoice", "deleted": True}


def create_credit_note(call: Call) -> dict[str, Any]:
    """Credit an open invoice (reduces what is due) or a paid one (credits the customer's balance)."""
    state, params = call.state, call.params
    invoice_id = params.req("invoice")
    amount = params.integer("amount", minimum=1)
    lines = params.objects("lines", _CREDIT_LINE)
    reason = params.text("reason", choices=CREDIT_REASONS)
    memo = params.text("memo")
    metadata = {k: v for k, v in params.metadata().items() if v}
    if amount is None and not lines:
        raise InvalidParams("Pass an amount or lines.", param="amount", code="parameter_missing")
    invoice = state.get("invoices", invoice_id, param="invoice")
    if invoice["status"] not in ("open", "paid"):
        raise invalid(
            f"Credit notes can only be issued for open or paid invoices; this invoice is {invoice['status']}.",
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
    customer = state.get("customers", invoice["customer"])
    count = sum(1 for note in state.objects["credit_notes"].values() if note["invoice"] == invoice_id)
    note = {
        "id": note_id,
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
        "out_of_band_amount": None,
        "pdf": f"/_sandbox/credit_notes/{note_id}/pdf",
        "reason": reason,
        "refund": None,
        "status": "issued",
        "subtotal": amount,
        "tax_amounts": [],
        "total": amount,
        "type": "post_payment" if paid else "pre_payment",
        "voided_at": None,
    }
    if paid:
        # Without refund / out-of-band amounts, a post-payment credit goes to the customer's balance.
        invoice["post_payment_credit_notes_amount"] += amount
        customer["balance"] -= amount
        note["customer_balance_transaction"] = state.new_id("cbtxn")
    else:
        invoice["pre_payment_credit_notes_amount"] += amount
        _recompute(invoice)
        if invoice["amount_remaining"] == 0:
            mark_paid(call, invoice)
    return state.add("credit_notes", note)


def _custom_line(state: Any, amount: int, description: str) -> dict[str, Any]:
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


def _credit_line(state: Any, invoice: dict[str, Any], line: Any) -> dict[str, Any]:
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
