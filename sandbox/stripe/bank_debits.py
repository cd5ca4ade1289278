"""Settlement of test bank debits (ACH): a `processing` intent later succeeds (invoice paid) or fails."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.stripe.forms import Params
from sandbox.stripe.invoices import UNPAID, paid_by_payment
from sandbox.stripe.payments import BANK_DEBITS, book_charge, emit_outcome, fail_charge, new_charge
from sandbox.stripe.state import Call, StripeState, frozen_at

# What a failed asynchronous attempt leaves on the intent (Stripe's code for it; the bank's reason is in the
# charge's failure_code, echoed here as decline_code).
ATTEMPT_FAILED = "payment_intent_payment_attempt_failed"
ATTEMPT_FAILED_MESSAGE = (
    "The latest payment attempt of this PaymentIntent has failed or been canceled, and the attached payment "
    "method has been removed. You can try confirming again with a new payment method."
)


def settle_bank_debits(state: StripeState, intent_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Settle the given processing debits (all of them when None); returns the events to deliver.

    Success: charge + balance transaction with fee, `charge.succeeded`, `payment_intent.succeeded`, the invoice
    paid (`invoice.paid`, `invoice.payment_succeeded`) unless credit notes settled it meanwhile.
    Failure: failed charge, intent back to `requires_payment_method` with `last_payment_error`, `charge.failed`,
    `payment_intent.payment_failed` and `invoice.payment_failed`; the invoice stays open (or uncollectible)."""
    wanted = list(state.bank_debits) if intent_ids is None else [i for i in intent_ids if i in state.bank_debits]
    call = Call(state, Params({}, None), None)
    for intent_id in wanted:
        state.bank_debits.remove(intent_id)
        intent = state.objects["payment_intents"].get(intent_id)
        if intent is None or intent["status"] != "processing":
            continue
        with frozen_at(state.clock_time(intent["customer"])):  # a customer on a test clock settles on its time
            _settle(call, intent)
    events = list(state.outbox)
    state.outbox.clear()
    return events


def _settle(call: Call, intent: dict[str, Any]) -> None:
    state = call.state
    invoice = state.objects["invoices"][intent["invoice"]]
    charge = new_charge(state, intent, state.objects["customers"][intent["customer"]])
    invoice["charge"] = charge["id"]
    failure = BANK_DEBITS.get(intent["payment_method"])
    if failure is None:
        book_charge(state, intent, charge)
        emit_outcome(call, intent, charge)
        if invoice["status"] in UNPAID:
            paid_by_payment(call, invoice)
        return
    failure_code, message = failure
    fail_charge(intent, charge, failure_code, message)
    intent["last_payment_error"] = {
        "type": "invalid_request_error",
        "code": ATTEMPT_FAILED,
        "decline_code": failure_code,
        "message": ATTEMPT_FAILED_MESSAGE,
        "charge": charge["id"],
        "payment_method_type": "us_bank_account",
    }
    intent["payment_method"] = None
    emit_outcome(call, intent, charge)
    state.emit(call, "invoice.payment_failed", invoice)
