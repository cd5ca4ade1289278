"""Invoices (draft -> open -> paid | void | uncollectible -> paid | void): create, update,
finalize, pay (by a payment or out of band), void, delete. Sending and marking uncollectible are in `dunning`; invoice
items and line totals in `invoice_items`."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.stripe.catalog import merge_metadata, payment_method_of, require_currency
from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.forms import Params
from sandbox.stripe.invoice_items import pending_items, sweep_in
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.payments import charge_invoice
from sandbox.stripe.state import Call, StripeState, now

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
INVOICE_UPDATE = frozenset(
    {"metadata", "auto_advance", "description", "footer", "days_until_due", "default_payment_method"}
)
# What `POST /v1/invoices/{id}` may still change once the invoice is finalized (the rest is frozen).
_UPDATABLE_AFTER_DRAFT = frozenset({"metadata", "auto_advance"})
INVOICE_FINALIZE = frozenset({"auto_advance"})
INVOICE_PAY = frozenset({"payment_method", "off_session", "paid_out_of_band"})
INVOICE_VOID: frozenset[str] = frozenset()
# Stripe's error code for acting on a payment intent in a state that does not allow it (here: processing).
PAYMENT_PROCESSING = "payment_intent_unexpected_state"
# Finalized and still waiting for its money: can be paid, voided or credited.
UNPAID = ("open", "uncollectible")


def collection(params: Params) -> tuple[str, int | None]:
    """`collection_method` (default charge_automatically) and `days_until_due`, which only send_invoice takes."""
    method = params.text("collection_method", choices=("charge_automatically", "send_invoice"))
    method = method or "charge_automatically"
    days_until_due = params.integer("days_until_due", minimum=0)
    if method == "send_invoice" and days_until_due is None:
        raise InvalidParams("Missing required param: days_until_due.", param="days_until_due")
    if method == "charge_automatically" and days_until_due is not None:
        raise InvalidParams(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    return method, days_until_due


def new_invoice(
    state: StripeState,
    customer: dict[str, Any],
    *,
    currency: str,
    method: str,
    days_until_due: int | None,
    subscription_id: str | None,
    billing_reason: str,
    auto_advance: bool,
    metadata: dict[str, str],
    created: int,
) -> dict[str, Any]:
    """A draft invoice with no lines yet, stored."""
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
        "auto_advance": auto_advance,
        "automatic_tax": {"enabled": False, "status": None},
        "billing_reason": billing_reason,
        "charge": None,
        "collection_method": method,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_address": copy.deepcopy(customer["address"]),
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discount": None,
        "discounts": [],
        "due_date": created + days_until_due * 86_400 if days_until_due is not None else None,
        "ending_balance": None,
        "footer": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": ""},
        "livemode": False,
        "metadata": metadata,
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
        "test_clock": customer["test_clock"],
        "total": 0,
        "total_tax_amounts": [],
        "webhooks_delivered_at": None,
    }
    invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
    return state.add("invoices", invoice)


def create_invoice(call: Call) -> dict[str, Any]:
    """Draft invoice; pending items are only swept in without `pending_invoice_items_behavior=exclude`."""
    state, params = call.state, call.params
    customer_id = params.req("customer")
    subscription_id = params.text("subscription")
    method, days_until_due = collection(params)
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
        currency = str(subscription["items"]["data"][0]["price"]["currency"])
    else:
        currency = customer["currency"] or "usd"
    pending = pending_items(state, customer_id, currency, subscription_id)
    if behavior == "include_and_require" and not pending:
        raise invalid("Nothing to invoice for customer", code="invoice_no_customer_line_items")
    invoice = new_invoice(
        state,
        customer,
        currency=currency,
        method=method,
        days_until_due=days_until_due,
        subscription_id=subscription_id,
        billing_reason="manual",  # what Stripe says of any invoice made through the API
        auto_advance=False if auto_advance is None else auto_advance,
        metadata={k: v for k, v in params.metadata().items() if v},
        created=now(),
    )
    invoice.update(
        default_payment_method=params.text("default_payment_method"),
        description=params.text("description"),
        footer=params.text("footer"),
    )
    # Stripe's default sweeps the customer's pending items of the invoice currency into it.
    sweep_in(invoice, [] if behavior == "exclude" else pending)
    return invoice


INVOICE_LIST = frozenset({"customer", "subscription", "status", "collection_method"}) | PAGING
_INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


def list_invoices(call: Call) -> dict[str, Any]:
    """`GET /v1/invoices`: newest first, filtered by customer, subscription, status, collection method and
    `created`, paged with `limit` / `starting_after` / `ending_before` (see `listing`)."""
    params = call.params
    wanted = {
        "customer": params.text("customer"),
        "subscription": params.text("subscription"),
        "status": params.text("status", choices=_INVOICE_STATUSES),
        "collection_method": params.text("collection_method", choices=("charge_automatically", "send_invoice")),
    }
    found = [
        invoice
        for invoice in call.state.objects["invoices"].values()
        if all(value is None or invoice[name] == value for name, value in wanted.items())
    ]
    return page(call, "invoices", found, "/v1/invoices")


def get_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    return call.state.get("invoices", invoice_id)


def update_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Metadata (merged key by key) and auto_advance on draft or open invoices; the rest on drafts only."""
    params = call.params
    auto_advance = params.flag("auto_advance")
    days_until_due = params.integer("days_until_due", minimum=0)
    invoice = call.state.get("invoices", invoice_id)
    frozen = sorted(set(params.values) - _UPDATABLE_AFTER_DRAFT - {"expand"})
    if invoice["status"] != "draft" and frozen:
        raise invalid(
            f"Finalized invoices can't be updated in this way: {', '.join(frozen)} can only change on a draft.",
            code="invoice_not_editable",
        )
    if auto_advance is not None and invoice["status"] not in ("draft", "open"):
        raise invalid(
            f"auto_advance can't be changed on an invoice that is {invoice['status']}.", code="invoice_not_editable"
        )
    if days_until_due is not None:
        if invoice["collection_method"] != "send_invoice":
            raise invalid(
                "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
            )
        invoice["due_date"] = invoice["created"] + days_until_due * 86_400
    if params.values.get("metadata") == "":
        invoice["metadata"] = {}  # an empty `metadata` unsets every key
    else:
        invoice["metadata"] = merge_metadata(invoice["metadata"], params.metadata())
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    for name in ("description", "footer", "default_payment_method"):
        if name in params.values:
            invoice[name] = params.text(name)
    return invoice


def finalize(call: Call, invoice: dict[str, Any]) -> None:
    """Number the draft and open it (`invoice.finalized`); nothing due makes it paid at once."""
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
    """The invoice is paid; an `incomplete` subscription whose first invoice this is becomes active, and so does a
    `past_due` one whose latest invoice this is (`customer.subscription.updated`)."""
    invoice["amount_paid"] += invoice["amount_remaining"]
    invoice["amount_remaining"] = 0
    invoice.update(status="paid", paid=True, auto_advance=False)
    invoice["status_transitions"]["paid_at"] = now()
    subscription = call.state.objects["subscriptions"].get(invoice["subscription"] or "")
    if subscription is not None and subscription["status"] == "incomplete":
        subscription["status"] = "active"
    elif subscription is not None and subscription["status"] == "past_due":
        if subscription["latest_invoice"] == invoice["id"]:
            subscription["status"] = "active"
            updated = call.state.emit(call, "customer.subscription.updated", subscription)
            updated["data"]["previous_attributes"] = {"status": "past_due"}
    call.state.emit(call, "invoice.paid", invoice)


def paid_by_payment(call: Call, invoice: dict[str, Any]) -> None:
    """A payment settled the invoice: `invoice.paid`, then `invoice.payment_succeeded`, as Stripe emits both."""
    mark_paid(call, invoice)
    call.state.emit(call, "invoice.payment_succeeded", invoice)


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
    finalize(call, invoice)
    return invoice


def pay_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Charge the invoice (finalizing a draft first), as `POST /pay` does, whatever its collection method.

    Refused (400 payment_intent_unexpected_state) while an earlier bank debit of the invoice is processing."""
    payment_method = call.params.text("payment_method")
    out_of_band = call.params.flag("paid_out_of_band")
    if out_of_band and payment_method is not None:
        raise InvalidParams("paid_out_of_band cannot be combined with payment_method.", param="paid_out_of_band")
    invoice = call.state.get("invoices", invoice_id)
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] == "void":
        raise invalid("This invoice can no longer be paid because it is void.", code="invoice_not_open")
    _refuse_while_processing(call, invoice, "paid")
    if out_of_band:
        # Paid outside Stripe: nothing is charged; `invoice.paid` without `invoice.payment_succeeded`.
        if invoice["status"] == "draft":
            finalize(call, invoice)
        if invoice["status"] != "paid":
            invoice["paid_out_of_band"] = True
            mark_paid(call, invoice)
        return invoice
    collect(call, invoice, payment_method)
    return invoice  # a bank debit leaves the invoice open until its intent settles


def collect(call: Call, invoice: dict[str, Any], payment_method: str | None = None) -> None:
    """Finalize a draft, then charge what remains due: the given method, else the invoice's, the
    subscription's, the customer's default. A decline raises the 402 card error (attempt kept)."""
    state = call.state
    if invoice["status"] == "draft":
        finalize(call, invoice)
        if invoice["status"] == "paid":
            return
    elif invoice["amount_remaining"] == 0:
        mark_paid(call, invoice)
        return
    customer = state.get("customers", invoice["customer"])
    subscription = state.objects["subscriptions"].get(invoice["subscription"] or "")
    method = (
        payment_method
        or invoice["default_payment_method"]
        or (subscription["default_payment_method"] if subscription else None)
        or payment_method_of(customer)
    )
    intent = charge_invoice(call, invoice, customer, method)
    if intent["status"] == "succeeded":
        paid_by_payment(call, invoice)


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
    if invoice["status"] not in UNPAID:
        raise invalid(
            f"You can only void open or uncollectible invoices; this invoice is {invoice['status']}.",
            code="invoice_not_open",
        )
    _refuse_while_processing(call, invoice, "voided")
    invoice.update(status="void", auto_advance=False)
    invoice["status_transitions"]["voided_at"] = now()
    call.state.emit(call, "invoice.voided", invoice)
    return invoice


def delete_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Only one-off drafts can be deleted; open ones, and any invoice of a subscription, must be voided."""
    invoice = call.state.get("invoices", invoice_id)
    if invoice["status"] != "draft":
        raise invalid(
            f"You can only delete draft invoices; this invoice is {invoice['status']}.", code="invoice_not_editable"
        )
    if invoice["subscription"] is not None:
        raise invalid("You can't delete invoices created by subscriptions.")
    del call.state.objects["invoices"][invoice_id]
    return {"id": invoice_id, "object": "invoice", "deleted": True}
