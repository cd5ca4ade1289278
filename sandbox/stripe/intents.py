"""Payment intents of their own (not an invoice's): create, confirm, retrieve, cancel, list; and the lists of the
charges and balance transactions every payment leaves.

Cards only: a standalone intent is confirmed with one of Stripe's test cards (`pm_card_visa`, the declining
`pm_card_chargeDeclined…`); bank debits need a mandate, which the emulator does not model, so they are refused.
As at Stripe, an intent without a payment method `requires_payment_method`, with one `requires_confirmation`;
confirming charges it at once (`succeeded`) or answers the 402 card_error with the intent in it and leaves it
`requires_payment_method` with its `last_payment_error`."""

from __future__ import annotations

from typing import Any

from sandbox.stripe.catalog import merge_metadata, require_currency
from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.payments import (
    BANK_DEBITS,
    DECLINES,
    book_charge,
    decline_card,
    decline_error,
    emit_outcome,
    new_charge,
    new_intent,
)
from sandbox.stripe.state import Call, now, render

PAYMENT_INTENT_CREATE = frozenset(
    {
        "amount",
        "currency",
        "customer",
        "payment_method",
        "payment_method_types",
        "confirm",
        "capture_method",
        "description",
        "metadata",
        "off_session",
        "receipt_email",
        "statement_descriptor",
    }
)
PAYMENT_INTENT_CONFIRM = frozenset({"payment_method", "off_session", "receipt_email"})
PAYMENT_INTENT_CANCEL = frozenset({"cancellation_reason"})
PAYMENT_INTENT_LIST = PAGING | {"customer"}
CHARGE_LIST = PAGING | {"customer", "payment_intent"}
BALANCE_TRANSACTION_LIST = PAGING | {"type", "source", "currency"}
_CANCEL_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
_NO_CUSTOMER = {"id": None, "address": None, "email": None, "name": None, "phone": None}


def create_payment_intent(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    amount = params.integer("amount", required=True, minimum=1)
    currency = require_currency(params.req("currency"), "currency")
    customer_id = params.text("customer")
    if customer_id is not None:
        state.get("customers", customer_id, param="customer")
    if params.text("capture_method") not in (None, "automatic"):
        raise InvalidParams("The emulator captures automatically only.", param="capture_method")
    types = params.strings("payment_method_types") or ["card"]
    if types != ["card"]:
        raise InvalidParams(
            "The emulator takes cards only for payment intents of their own.", param="payment_method_types"
        )
    payment_method = _card(params.text("payment_method"))
    assert amount is not None
    intent = new_intent(
        state,
        amount=amount,
        currency=currency,
        customer=customer_id,
        invoice=None,
        description=params.text("description"),
        payment_method=payment_method,
        method_types=types,
    )
    intent["metadata"] = merge_metadata({}, params.metadata())
    intent["status"] = "requires_confirmation" if payment_method else "requires_payment_method"
    if params.flag("confirm"):
        _confirm(call, intent)
    return intent


def confirm_payment_intent(call: Call, intent_id: str) -> dict[str, Any]:
    intent = call.state.get("payment_intents", intent_id)
    payment_method = _card(call.params.text("payment_method"))
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise invalid(
            f"This PaymentIntent's status is {intent['status']}; it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    if payment_method is not None:
        intent["payment_method"] = payment_method
    _confirm(call, intent)
    return intent


def _card(payment_method: str | None) -> str | None:
    if payment_method in BANK_DEBITS:
        raise InvalidParams(
            "Bank debits need a mandate, which the emulator does not model: confirm with a test card.",
            param="payment_method",
        )
    if payment_method is not None and not payment_method.startswith("pm_card_"):
        raise invalid(f"No such PaymentMethod: '{payment_method}'", code="resource_missing", param="payment_method")
    return payment_method


def _confirm(call: Call, intent: dict[str, Any]) -> None:
    """Charge the intent's card: succeeded, or the 402 card_error (the failed charge and the intent are kept)."""
    if intent["payment_method"] is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    state = call.state
    customer = state.objects["customers"].get(intent["customer"] or "") or _NO_CUSTOMER
    intent["last_payment_error"] = None
    charge = new_charge(state, intent, customer)
    decline = DECLINES.get(intent["payment_method"])
    if decline is None:
        book_charge(state, intent, charge)
        emit_outcome(call, intent, charge)
        return
    decline_card(call, intent, charge, decline)
    raise decline_error(decline, charge, render(state, intent, call.api_version))


def get_payment_intent(call: Call, intent_id: str) -> dict[str, Any]:
    return call.state.get("payment_intents", intent_id)


def cancel_payment_intent(call: Call, intent_id: str) -> dict[str, Any]:
    intent = call.state.get("payment_intents", intent_id)
    reason = call.params.text("cancellation_reason", choices=_CANCEL_REASONS)
    if intent["status"] in ("succeeded", "canceled", "processing") or intent["invoice"]:
        raise invalid(
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}."
            if not intent["invoice"]
            else "You cannot cancel a PaymentIntent created by an invoice; void the invoice instead.",
            code="payment_intent_unexpected_state",
        )
    intent.update(status="canceled", cancellation_reason=reason, canceled_at=now())
    call.state.emit(call, "payment_intent.canceled", intent)
    return intent


def list_payment_intents(call: Call) -> dict[str, Any]:
    customer_id = call.params.text("customer")
    found = [i for i in call.state.objects["payment_intents"].values() if customer_id in (None, i["customer"])]
    return page(call, "payment_intents", found, "/v1/payment_intents")


def get_charge(call: Call, charge_id: str) -> dict[str, Any]:
    return call.state.get("charges", charge_id)


def list_charges(call: Call) -> dict[str, Any]:
    customer_id, intent_id = call.params.text("customer"), call.params.text("payment_intent")
    found = [
        c
        for c in call.state.objects["charges"].values()
        if customer_id in (None, c["customer"]) and intent_id in (None, c["payment_intent"])
    ]
    return page(call, "charges", found, "/v1/charges")


def get_balance_transaction(call: Call, txn_id: str) -> dict[str, Any]:
    return call.state.get("balance_transactions", txn_id)


def list_balance_transactions(call: Call) -> dict[str, Any]:
    params = call.params
    kind, source, currency = params.text("type"), params.text("source"), params.text("currency")
    found = [
        t
        for t in call.state.objects["balance_transactions"].values()
        if kind in (None, t["type"]) and source in (None, t["source"]) and currency in (None, t["currency"])
    ]
    return page(call, "balance_transactions", found, "/v1/balance_transactions")
