"""Disputes: a cardholder's bank disputing a charge (`/v1/disputes`), and the sandbox helper that opens one.

At Stripe a test dispute comes from paying with a disputing test card; here `POST /_sandbox/disputes` opens one on
an existing charge (`open_dispute`). A chargeback (`needs_response`, the default) withdraws the disputed amount
from the balance at once (a balance transaction of type `adjustment`, reporting category `dispute`) and the charge
can no longer be refunded (`is_charge_refundable: false`: `POST /v1/refunds` answers `charge_disputed`). An
inquiry (`warning_needs_response`) withdraws nothing. Either emits `charge.dispute.created` with the dispute.
Stripe's dispute fee is not emulated (the balance transaction's fee is 0)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from sandbox.stripe.errors import invalid
from sandbox.stripe.forms import Params
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.payments import balance_transaction
from sandbox.stripe.state import Call, StripeState, now

DISPUTE_LIST = PAGING | {"charge", "payment_intent"}
# Stripe's documented dispute reasons and the statuses a new dispute can have.
REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
INQUIRY = "warning_needs_response"
CHARGEBACK = "needs_response"


class DisputeRequest(BaseModel):
    """The body of `POST /_sandbox/disputes`: which charge, how much of it (default: all), why, and whether it is a
    chargeback (`needs_response`) or an inquiry (`warning_needs_response`)."""

    charge: str = Field(min_length=1)
    amount: int | None = Field(default=None, ge=1)
    reason: str = "fraudulent"
    status: str = CHARGEBACK


def open_dispute(state: StripeState, request: DisputeRequest) -> dict[str, Any]:
    """Open the dispute; StripeError (400) naming what is wrong. The event waits in the outbox."""
    if request.reason not in REASONS:
        raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason")
    if request.status not in (INQUIRY, CHARGEBACK):
        raise invalid(f"A new dispute is {CHARGEBACK} or {INQUIRY}", param="status")
    charge = state.get("charges", request.charge, param="charge")
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} did not succeed: there is nothing to dispute.", param="charge")
    if charge["disputed"]:
        raise invalid(f"Charge {charge['id']} has already been disputed.", code="charge_disputed", param="charge")
    amount = charge["amount_captured"] if request.amount is None else request.amount
    if amount > charge["amount_captured"]:
        raise invalid(
            f"The disputed amount ({amount}) is greater than the charge ({charge['amount_captured']}).",
            param="amount",
        )
    dispute_id = state.new_id("du")
    chargeback = request.status == CHARGEBACK
    withdrawn = []
    if chargeback:
        txn = balance_transaction(state, dispute_id, -amount, charge["currency"], 0, "adjustment", "dispute")
        withdrawn = [txn]
    created = now()
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "evidence": {"customer_name": None, "product_description": None, "uncategorized_text": None},
        "evidence_details": {
            "due_by": created + 21 * 86_400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": not chargeback,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": request.reason,
        "status": request.status,
        "_balance_transactions": withdrawn,
    }
    charge["disputed"] = True
    state.add("disputes", dispute)
    state.emit(Call(state, Params({}, None), None), "charge.dispute.created", dispute)
    return dispute


def get_dispute(call: Call, dispute_id: str) -> dict[str, Any]:
    return call.state.get("disputes", dispute_id)


def list_disputes(call: Call) -> dict[str, Any]:
    """`GET /v1/disputes`: newest first, filtered by `charge` or `payment_intent`, paged like every list."""
    charge_id, intent_id = call.params.text("charge"), call.params.text("payment_intent")
    found = [
        dispute
        for dispute in call.state.objects["disputes"].values()
        if charge_id in (None, dispute["charge"]) and intent_id in (None, dispute["payment_intent"])
    ]
    return page(call, "disputes", found, "/v1/disputes")
