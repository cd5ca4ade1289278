"""Invoice payments (cards, test bank debits): payment intents, charges, balance transactions with fees, refunds."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Decline:
    """How Stripe refuses a test card: the error `code`, the issuer's `decline_code` (only for `card_declined`),
    the `param` at fault (the expiry month, the CVC) and the message."""

    code: str
    decline_code: str | None
    param: str | None
    message: str

    def error(self, charge_id: str) -> dict[str, Any]:
        """The fields of Stripe's card_error (and of the intent's `last_payment_error`)."""
        found = {
            "type": "card_error",
            "code": self.code,
            "decline_code": self.decline_code,
            "param": self.param,
            "message": self.message,
            "charge": charge_id,
            "doc_url": f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}",
        }
        return {k: v for k, v in found.items() if v is not None}


# Stripe's declining test payment methods (docs.stripe.com/testing#declined-payments).
DECLINES: dict[str, Decline] = {
    "pm_card_chargeDeclined": Decline("card_declined", "generic_decline", None, "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": Decline(
        "card_declined", "insufficient_funds", None, "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedLostCard": Decline("card_declined", "lost_card", None, "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": Decline("expired_card", None, "exp_month", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": Decline(
        "incorrect_cvc", None, "cvc", "Your card's security code is incorrect."
    ),
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


def balance_transaction(
    state: StripeState, source: str, amount: int, currency: str, fee: int, kind: str, category: str | None = None
) -> str:
    """A balance transaction of `kind` (its reporting category `category`, default the kind); returns its id."""
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
        "reporting_category": category or kind,
        "source": source,
        "status": "pending",
        "type": kind,
    }
    return state.add("balance_transactions", txn)["id"]


def new_intent(
    state: StripeState,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    invoice: str | None,
    description: str | None,
    payment_method: str | None,
    method_types: list[str],
) -> dict[str, Any]:
    """A payment intent as Stripe creates it (status `succeeded` until the caller says otherwise)."""
    intent: dict[str, Any] = {
        "id": state.new_id("pi"),
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": customer,
        "description": description,
        "invoice": invoice,
        "last_payment_error": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_types": method_types,
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
    charge["balance_transaction"] = balance_transaction(
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
    intent = new_intent(
        state,
        amount=invoice["amount_remaining"],
        currency=invoice["currency"],
        customer=invoice["customer"],
        invoice=invoice["id"],
        description=f"Payment for Invoice {invoice['number']}",
        payment_method=payment_method,
        method_types=["us_bank_account" if bank else "card"],
    )
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
    decline_card(call, intent, charge, decline)
    state.emit(call, "invoice.payment_failed", invoice)
    raise decline_error(decline, charge)


def decline_card(call: Call, intent: dict[str, Any], charge: dict[str, Any], decline: Decline) -> None:
    """The issuer refused: failed charge, intent back to `requires_payment_method`, their events."""
    fail_charge(intent, charge, decline.code, decline.message)
    intent["last_payment_error"] = decline.error(charge["id"])  # no payment_method: the emulator has no such objects
    emit_outcome(call, intent, charge)


def decline_error(decline: Decline, charge: dict[str, Any], intent: dict[str, Any] | None = None) -> StripeError:
    """Stripe's 402 card_error; a confirmed intent's error carries the intent too, as Stripe's does."""
    extra = {k: v for k, v in decline.error(charge["id"]).items() if k in ("charge", "doc_url")}
    if intent is not None:
        extra["payment_intent"] = intent  # rendered by the caller
    return StripeError(
        402,
        "card_error",
        decline.message,
        code=decline.code,
        decline_code=decline.decline_code,
        param=decline.param,
        extra=extra,
    )


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
    if charge["disputed"] and refuses_refund(state, charge_id):
        raise invalid(f"Charge {charge_id} has been charged back; cannot issue a refund.", code="charge_disputed")
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
    refund["balance_transaction"] = balance_transaction(state, refund["id"], -amount, charge["currency"], 0, "refund")
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    charge["_refunds"].append(refund["id"])
    state.settling_refunds.append(refund["id"])
    state.add("refunds", refund)
    state.emit(call, "charge.refunded", charge)  # the charge with its new amount_refunded and refunds
    return refund


def refuses_refund(state: StripeState, charge_id: str) -> bool:
    """True when a chargeback on the charge makes it unrefundable (an inquiry does not)."""
    return any(d["charge"] == charge_id and not d["is_charge_refundable"] for d in state.objects["disputes"].values())


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
