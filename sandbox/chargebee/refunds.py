"""Refunds of paid invoices, disputes of payments and the internal comments a refund leaves.

`POST /invoices/{id}/refund` (`refund_amount`, default all that is left; `credit_note[reason_code]`,
`customer_notes`, `comment`) issues a refundable credit note for the amount and refunds it at once through the
gateway: a transaction of type `refund` (`refunded_txn_id` = the payment, `linked_credit_notes`), the note `refunded`
with its `linked_refunds`, the payment's `linked_refunds`. `POST /credit_notes/{id}/refund` refunds what a refundable
note still has available. Only a card payment is refunded online (an offline one is `record_refund`, not emulated).
More than is left: 400 `param_wrong_value` naming `refund_amount` and what is left; nothing is written.

A dispute comes from the cardholder's bank, not the API: `POST /_sandbox/disputes` (`DisputeRequest`) opens one on a
payment (`GET /disputes/{id}`, `GET /disputes`). Chargebee documents no dispute event, so none is sent.
`GET /comments?entity_type=credit_note&entity_id=CN-…` lists the `comment` an operation left on a record.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from sandbox.chargebee import wire
from sandbox.chargebee.catalog import get
from sandbox.chargebee.credit_notes import CREDIT_REASONS, create_credit_note
from sandbox.chargebee.state import Record, Site, now, touch

DISPUTE_STATUSES = ("initiated", "funds_withdrawn", "in_review", "cancelled", "lost", "won")
DISPUTE_TYPES = ("chargeback", "inquiry")
COMMENT_ENTITIES = ("customer", "subscription", "invoice", "credit_note", "transaction")


def refund_invoice(site: Site, invoice_id: str, form: Record) -> Record:
    """`POST /invoices/{id}/refund`: a refundable credit note for `refund_amount`, refunded to the card at once."""
    invoice = get(site.invoices, "invoice", invoice_id)
    if invoice["status"] != "paid" or not invoice["amount_paid"]:
        raise wire.invalid_state(f"invoice {invoice_id} is {invoice['status']}; only a paid invoice is refunded")
    payment = _card_payment(site, invoice)
    notes = [site.credit_notes[n["cn_id"]] for n in invoice["issued_credit_notes"]]
    left = invoice["amount_paid"] - sum(n["total"] for n in notes if n["type"] == "refundable")
    amount = _amount(form, left, f"invoice {invoice_id}")
    given = form.get("credit_note")
    note_form: Record = given if isinstance(given, dict) else {}
    reason = wire.choice(note_form, "reason_code", CREDIT_REASONS) or "other"
    comment = wire.text(form, "comment", max_length=300)
    created = create_credit_note(
        site,
        {
            "reference_invoice_id": invoice_id,
            "type": "refundable",
            "reason_code": reason,
            "total": str(amount),
            "customer_notes": form.get("customer_notes") or "",
        },
    )
    note = created["credit_note"]
    transaction = _refund(site, note, payment, amount)
    if comment is not None:
        _comment(site, "credit_note", note["id"], comment)
    return {"invoice": invoice, "transaction": transaction, "credit_note": note}


def refund_credit_note(site: Site, note_id: str, form: Record) -> Record:
    """`POST /credit_notes/{id}/refund`: what a refundable note still has available, to the invoice's card."""
    note = get(site.credit_notes, "credit_note", note_id)
    if note["type"] != "refundable" or note["status"] not in ("refund_due", "refunded") or not note["amount_available"]:
        raise wire.invalid_state(f"credit note {note_id} is {note['status']}; there is nothing to refund")
    invoice = get(site.invoices, "invoice", note["reference_invoice_id"])
    payment = _card_payment(site, invoice)
    amount = _amount(form, note["amount_available"], f"credit note {note_id}")
    wire.text(form, "refund_reason_code", max_length=100)
    if form.get("customer_notes"):
        note["customer_notes"] = wire.text(form, "customer_notes", max_length=2000)
    transaction = _refund(site, note, payment, amount)
    return {"credit_note": note, "transaction": transaction}


def _amount(form: Record, left: int, what: str) -> int:
    amount = wire.integer(form, "refund_amount", low=1, high=10**13)
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise wire.wrong_value("refund_amount", f"refund_amount : cannot be more than {left}, what is left on {what}")
    return amount


def _card_payment(site: Site, invoice: Record) -> Record:
    """The invoice's successful card payment (the one a refund goes back to)."""
    for linked in reversed(invoice["linked_payments"]):
        payment = site.transactions.get(linked["txn_id"])
        if payment and payment["status"] == "success" and payment["payment_method"] == "card":
            return payment
    raise wire.invalid_state(f"invoice {invoice['id']} has no online payment to refund; record the refund instead")


def _refund(site: Site, note: Record, payment: Record, amount: int) -> Record:
    """The refund transaction of `amount` out of `note`, to `payment`'s card; the links on all three records."""
    at = now()
    invoice = site.invoices[note["reference_invoice_id"]]
    transaction: Record = {
        "id": site.new_id("txn"),
        "customer_id": payment["customer_id"],
        "subscription_id": payment.get("subscription_id"),
        "payment_method": payment["payment_method"],
        "gateway": payment["gateway"],
        "type": "refund",
        "date": at,
        "amount": amount,
        "currency_code": payment["currency_code"],
        "status": "success",
        "refunded_txn_id": payment["id"],
        "reference_transaction_id": payment["id"],
        "linked_credit_notes": [
            {
                "cn_id": note["id"],
                "applied_amount": amount,
                "applied_at": at,
                "cn_reason_code": note.get("reason_code"),
                "cn_create_reason_code": note.get("create_reason_code"),
                "cn_date": note["date"],
                "cn_total": note["total"],
                "cn_status": note["status"],
                "cn_reference_invoice_id": invoice["id"],
            }
        ],
        "deleted": False,
        "object": "transaction",
    }
    site.transactions[transaction["id"]] = touch(transaction)
    note["amount_refunded"] += amount
    note["amount_available"] -= amount
    if note["amount_available"] == 0:
        note["status"], note["refunded_at"] = "refunded", at
    transaction["linked_credit_notes"][0]["cn_status"] = note["status"]
    link = {"txn_id": transaction["id"], "txn_status": "success", "txn_date": at, "txn_amount": amount}
    note.setdefault("linked_refunds", []).append({**link, "applied_amount": amount, "applied_at": at})
    payment.setdefault("linked_refunds", []).append(link)
    for issued in invoice["issued_credit_notes"]:
        if issued["cn_id"] == note["id"]:
            issued["cn_status"] = note["status"]
    for record in (note, payment, invoice):
        touch(record)
    customer = site.customers[payment["customer_id"]]
    site.emit(
        "payment_refunded", {"transaction": transaction, "invoice": invoice, "customer": customer, "credit_note": note}
    )
    return transaction


def _comment(site: Site, entity_type: str, entity_id: str, notes: str) -> None:
    site.comments.append(
        {
            "id": site.new_id("cmt"),
            "entity_type": entity_type,
            "entity_id": entity_id,
            "notes": notes,
            "added_by": "api",
            "type": "system",
            "created_at": now(),
            "object": "comment",
        }
    )


def list_comments(site: Site, ids: dict[str, str], query: Record) -> Record:
    """`GET /comments`: `entity_type` and `entity_id` are plain parameters (not `[is]` filters)."""
    entity_type = wire.choice(query, "entity_type", COMMENT_ENTITIES)
    entity_id = wire.text(query, "entity_id", max_length=100)
    if entity_id is not None and entity_type is None:
        raise wire.missing("entity_type")
    chosen = [
        c
        for c in site.comments
        if (entity_type is None or c["entity_type"] == entity_type)
        and (entity_id is None or c["entity_id"] == entity_id)
    ]
    rest = {k: v for k, v in query.items() if k not in ("entity_type", "entity_id")}
    return wire.listed(chosen, rest, "comment", ("created_at",))


class DisputeRequest(BaseModel):
    """The body of `POST /_sandbox/disputes`: the payment disputed, how much (default all), why, and the dispute's
    type and status (a chargeback whose funds are withdrawn, by default)."""

    transaction_id: str = Field(min_length=1)
    amount: int | None = Field(default=None, ge=1)
    reason: str = "fraud"
    type: str = "chargeback"
    status: str = "funds_withdrawn"


def open_dispute(site: Site, request: DisputeRequest) -> Record:
    if request.type not in DISPUTE_TYPES:
        raise wire.wrong_value("type", f"type : must be one of {', '.join(DISPUTE_TYPES)}")
    if request.status not in DISPUTE_STATUSES:
        raise wire.wrong_value("status", f"status : must be one of {', '.join(DISPUTE_STATUSES)}")
    payment = get(site.transactions, "transaction", request.transaction_id)
    if payment["type"] != "payment" or payment["status"] != "success":
        raise wire.invalid_state(f"transaction {payment['id']} is not a successful payment: nothing to dispute")
    if any(d["transaction_id"] == payment["id"] for d in site.disputes.values()):
        raise wire.invalid_state(f"transaction {payment['id']} is already disputed")
    amount = payment["amount"] if request.amount is None else request.amount
    if amount > payment["amount"]:
        raise wire.wrong_value("amount", f"amount : cannot be more than the payment's {payment['amount']}")
    dispute: Record = {
        "id": site.new_id("dsp"),
        "customer_id": payment["customer_id"],
        "transaction_id": payment["id"],
        "gateway_account_id": "gw_c2c_test",
        "id_at_gateway": site.new_id("gw_dp"),
        "currency_code": payment["currency_code"],
        "amount": amount,
        "reason": request.reason[:100],
        "status": request.status,
        "type": request.type,
        "is_partial_dispute": amount < payment["amount"],
        "created_at": now(),
        "object": "dispute",
    }
    site.disputes[dispute["id"]] = touch(dispute)
    return dispute


def list_disputes(site: Site, ids: dict[str, str], query: Record) -> Record:
    filters = ("id", "status", "type", "customer_id", "transaction_id", "amount", "created_at")
    return wire.listed(list(site.disputes.values()), query, "dispute", filters)


def get_dispute(site: Site, ids: dict[str, str], query: Record) -> Record:
    return {"dispute": get(site.disputes, "dispute", ids["id"])}
