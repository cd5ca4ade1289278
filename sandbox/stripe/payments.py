"""Invoice payments (cards, test bank debits): payment intents, charges, balance transactions with fees, refunds."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sandbox.stripe.errors import StripeError, invalid
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.state import Call, StripeState, now

REFUND_CREATE = frozenset({"payment_intent", "charge", "amount", "reason", "metadata"})
REFUND_LIST = PAGING | {"payment_intent", "charge"}

# Stripe's zero-decimal currencies: amounts are whole units.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)

# Test payment methods that decline, with Stripe's decline code and message.
DECLINES: dict[str, tuple[str, str]] = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("insufficient_funds", "Your card has insufficient funds."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired."),
}


# Stripe's test bank accounts (ACH Direct Debit, docs "Test account numbers"): token -> how settlement fails
# (the charge's failure_code and message), None when it succeeds. `pm_usBankAccount` is kept as an alias.
BANK_DEBITS: dict[str, tuple[str, str] | None] = {
    "pm_usBankAccount": None,
    "pm_usBankAccount_success": None,
    "pm_usBankAccount_processing": None,
    "pm_usBankAccount_insufficientFunds": (
        "insufficient_funds",
        "The customer's account has insufficient funds to cover this payment.",
    ),
    "pm_usBankAccount_accountClosed": ("account_closed", "The customer's bank account has been closed."),
    "pm_usBankAccount_noAccount": ("no_account", "The customer's bank account could not be located."),
    "pm_usBankAccount_debitNotAuthorized": (
        "debit_not_authorized",
        "The customer has notified their bank that this payment was unauthorized.",
    ),
}
# As at Stripe, this one stays `processing` indefinitely (not even `/_sandbox/settle` moves it).
BANK_NEVER_SETTLES = "pm_usBankAccount_processing"


def processing_fee(amount: int, currency: str) -> int:
    """2.9% + 30 minor units, or 3.6% for zero-decimal currencies (JPY); rounded half-even."""
    if currency in ZERO_DECIMAL:
        return int((Decimal(amount) * Decimal("0.036")).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return int((Decimal(amount) * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)) + 30


def _balance_transaction(state: StripeState, source: str, amount: int, currency: str, fee: int, kind: str) -> str:
    created = now()
    txn = {
        "id": state.new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * 86_400,
        "created": created,
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": kind,
        "source": source,
        "status": "pending",
        "type": kind,
    }
    return state.add("balance_transactions", txn)["id"]


def _new_intent(state: StripeState, invoice: dict[str, Any], payment_method: str, method_type: str) -> dict[str, Any]:
    intent: dict[str, Any] = {
        "id": state.new_id("pi"),
        "object": "payment_intent",
        "amount": invoice["amount_remaining"],
        "amount_capturable": 0,
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "description": f"Payment for Invoice {invoice['number']}",
        "invoice": invoice["id"],
        "last_payment_error": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_types": [method_type],
        "receipt_email": None,
        "setup_future_usage": None,
        "statement_descriptor": None,
        "status": "succeeded",
        "_charges": [],
    }
    intent["client_secret"] = f"{intent['id']}_secret_{state.new_id('x')[2:]}"
    return state.add("payment_intents", intent)


def new_charge(state: StripeState, intent: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """A charge for the whole intent, succeeded; `fail_charge` turns it into a failed one."""
    amount = intent["amount"]
    charge: dict[str, Any] = {
        "id": state.new_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "balance_transaction": None,
        "billing_details": {
            "address": customer["address"],
            "email": customer["email"],
            "name": customer["name"],
            "phone": customer["phone"],
        },
        "captured": True,
        "created": now(),
        "currency": intent["currency"],
        "customer": customer["id"],
        "description": intent["description"],
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "invoice": intent["invoice"],
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "refunded": False,
        "status": "succeeded",
        "_refunds": [],
    }
    intent["_charges"].append(charge["id"])
    return state.add("charges", charge)


def book_charge(state: StripeState, intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """The money arrived: balance transaction with Stripe's fee, intent succeeded."""
    amount, currency = charge["amount"], charge["currency"]
    charge["balance_transaction"] = _balance_transaction(
        state, charge["id"], amount, currency, processing_fee(amount, currency), "charge"
    )
    intent.update(status="succeeded", amount_received=amount)


def fail_charge(intent: dict[str, Any], charge: dict[str, Any], failure_code: str, message: str) -> None:
    charge.update(
        amount_captured=0,
        captured=False,
        paid=False,
        status="failed",
        failure_code=failure_code,
        failure_message=message,
    )
    intent["status"] = "requires_payment_method"


def emit_outcome(call: Call, intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """The charge's and the intent's events once a payment attempt is decided (the invoice's follow)."""
    if charge["status"] == "succeeded":
        call.state.emit(call, "charge.succeeded", charge)
        call.state.emit(call, "payment_intent.succeeded", intent)
    else:
        call.state.emit(call, "charge.failed", charge)
        call.state.emit(call, "payment_intent.payment_failed", intent)


def charge_invoice(
    call: Call, invoice: dict[str, Any], customer: dict[str, Any], payment_method: str
) -> dict[str, Any]:
    """Create the intent for `invoice.amount_remaining` and charge it; returns the intent.

    A card decline raises Stripe's 402 card_error; the intent, the failed charge and the invoice's attempt
    count are kept. A test bank account (`BANK_DEBITS`) leaves the intent `processing`, with no charge yet."""
    state = call.state
    bank = payment_method in BANK_DEBITS
    intent = _new_intent(state, invoice, payment_method, "us_bank_account" if bank else "card")
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    invoice["payment_intent"] = intent["id"]
    if bank:
        intent["status"] = "processing"
        if payment_method != BANK_NEVER_SETTLES:
            state.bank_debits.append(intent["id"])
        state.emit(call, "payment_intent.processing", intent)
        return intent
    charge = new_charge(state, intent, customer)
    invoice["charge"] = charge["id"]
    decline = DECLINES.get(payment_method)
    if decline is None:
        book_charge(state, intent, charge)
        emit_outcome(call, intent, charge)
        return intent
    decline_code, message = decline
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": message,
        "charge": charge["id"],
    }
    fail_charge(intent, charge, "card_declined", message)
    intent["last_payment_error"] = dict(error)  # no payment_method: the emulator has no PaymentMethod objects
    emit_outcome(call, intent, charge)
    state.emit(call, "invoice.payment_failed", invoice)
    raise StripeError(
        402,
        "card_error",
        message,
        code="card_declined",
        decline_code=decline_code,
        extra={"charge": charge["id"]},
    )


def get_payment_intent(call: Call, intent_id: str) -> dict[str, Any]:
    return call.state.get("payment_intents", intent_id)


def create_refund(call: Call) -> dict[str, Any]:
    """Refund (part of) a charge; answered `pending`, settled to `succeeded` right after the response.

    Emits `charge.refunded` (partial refunds too, as Stripe does)."""
    state, params = call.state, call.params
    intent_id, charge_id = params.text("payment_intent"), params.text("charge")
    amount = params.integer("amount", minimum=1)
    reason = params.text("reason", choices=("duplicate", "fraudulent", "requested_by_customer"))
    metadata = {k: v for k, v in params.metadata().items() if v}
    if (intent_id is None) == (charge_id is None):
        raise invalid("You must pass exactly one of payment_intent or charge.", param="payment_intent")
    if intent_id is not None:
        intent = state.get("payment_intents", intent_id, param="payment_intent")
        if intent["status"] != "succeeded":
            raise invalid(
                "This PaymentIntent does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        charge_id = intent["_charges"][-1]
    assert charge_id is not None
    charge = state.get("charges", charge_id, param="charge")
    refundable = charge["amount_captured"] - charge["amount_refunded"]
    if refundable <= 0:
        raise invalid(f"Charge {charge_id} has already been refunded.", code="charge_already_refunded")
    amount = refundable if amount is None else amount
    if amount > refundable:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})",
            code="amount_too_large",
            param="amount",
        )
    refund = {
        "id": state.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge_id,
        "created": now(),
        "currency": charge["currency"],
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "pending",
        "transfer_reversal": None,
    }
    refund["balance_transaction"] = _balance_transaction(state, refund["id"], -amount, charge["currency"], 0, "refund")
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    charge["_refunds"].append(refund["id"])
    state.settling_refunds.append(refund["id"])
    state.add("refunds", refund)
    state.emit(call, "charge.refunded", charge)  # the charge with its new amount_refunded and refunds
    return refund


def get_refund(call: Call, refund_id: str) -> dict[str, Any]:
    return call.state.get("refunds", refund_id)


def list_refunds(call: Call) -> dict[str, Any]:
    """`GET /v1/refunds`: newest first, filtered by `payment_intent` or `charge`, paged like every list."""
    intent_id, charge_id = call.params.text("payment_intent"), call.params.text("charge")
    found = [
        refund
        for refund in call.state.objects["refunds"].values()
        if intent_id in (None, refund["payment_intent"]) and charge_id in (None, refund["charge"])
    ]
    return page(call, "refunds", found, "/v1/refunds")


def settle_refunds(state: StripeState) -> None:
    """The card network confirms every pending refund."""
    for refund_id in state.settling_refunds:
        refund = state.objects["refunds"].get(refund_id)
        if refund is not None and refund["status"] == "pending":
            refund["status"] = "succeeded"
    state.settling_refunds.clear()
