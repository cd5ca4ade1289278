"""Refunds and disputes in the Chargebee emulator through Chargebee's official Python SDK (`chargebee` v3): an
invoice refund (refundable credit note + refund transaction, linked both ways), a refundable note refunded later,
the refund transactions listed by type and date, a refund of more than is left refused naming `refund_amount`, a
dispute retrieved and listed, and the internal comment a refund leaves."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.sandbox.test_chargebee_sdk import catalog
from tests.support import chargebee as cb
from tests.support.chargebee import fresh_site  # noqa: F401 - the fixture `url`
from tests.support.sdk import vendor_sdk

chargebee = vendor_sdk("chargebee")


@pytest.fixture
def api(url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    return cb.sdk(url, monkeypatch)


def paid(api: Any, customer: str) -> tuple[Any, Any]:
    """(invoice, payment) of a paid invoice of 2 seats at 49.00 (9800)."""
    plan, seat = catalog(api)
    api.Customer.create(
        {"id": customer, "auto_collection": "off", "payment_method": {"type": "card", "reference_id": "tok_visa"}}
    )
    invoice = api.Subscription.create_with_items(
        customer, {"subscription_items": [{"item_price_id": plan}, {"item_price_id": seat, "quantity": 2}]}
    ).invoice
    collected = api.Invoice.collect_payment(invoice.id)
    return collected.invoice, collected.transaction


def test_an_invoice_refund_is_a_refunded_credit_note_and_a_refund_transaction(api: Any) -> None:
    since = int(time.time()) - 1
    invoice, payment = paid(api, "cus-r1")
    refunded = api.Invoice.refund(
        invoice.id,
        {
            "refund_amount": 2500,
            "credit_note": {"reason_code": "product_unsatisfactory"},
            "customer_notes": "c2c ref abc",
            "comment": "c2c key k1",
        },
    )
    note, refund = refunded.credit_note, refunded.transaction
    assert (note.type, note.status, note.total, note.amount_refunded) == ("refundable", "refunded", 2500, 2500)
    assert (note.reference_invoice_id, note.reason_code) == (invoice.id, "product_unsatisfactory")
    assert [r.txn_id for r in note.linked_refunds] == [refund.id]
    assert (refund.type, refund.status, refund.amount, refund.refunded_txn_id) == (
        "refund",
        "success",
        2500,
        payment.id,
    )
    assert [(c.cn_id, c.cn_reference_invoice_id) for c in refund.linked_credit_notes] == [(note.id, invoice.id)]
    assert refunded.invoice.status == "paid"
    assert [r.txn_id for r in api.Transaction.retrieve(payment.id).transaction.linked_refunds] == [refund.id]
    listed = api.Transaction.list({"type": {"is": "refund"}, "date": {"after": since}}).list
    assert [entry.transaction.id for entry in listed] == [refund.id]
    comments = api.Comment.list({"entity_type": "credit_note", "entity_id": note.id}).list
    assert [entry.comment.notes for entry in comments] == ["c2c key k1"]


def test_a_refund_of_more_than_is_left_is_refused_naming_it_and_writes_nothing(api: Any, url: str) -> None:
    invoice, _ = paid(api, "cus-r2")
    api.Invoice.refund(invoice.id, {"refund_amount": 9000})
    with pytest.raises(chargebee.InvalidRequestError) as too_much:
        api.Invoice.refund(invoice.id, {"refund_amount": 801})
    assert too_much.value.param == "refund_amount"
    assert "800" in str(too_much.value)
    state = cb.state(url)
    assert len(state["credit_notes"]) == 1
    assert len([t for t in state["transactions"] if t["type"] == "refund"]) == 1
    assert api.Invoice.refund(invoice.id).transaction.amount == 800  # no amount: all that is left


def test_a_refundable_credit_note_is_refunded_later(api: Any) -> None:
    invoice, payment = paid(api, "cus-r3")
    note = api.CreditNote.create(
        {"reference_invoice_id": invoice.id, "total": 1000, "type": "refundable", "reason_code": "waiver"}
    ).credit_note
    assert (note.status, note.amount_available) == ("refund_due", 1000)
    refunded = api.CreditNote.refund(note.id, {"refund_amount": 400})
    assert (refunded.credit_note.status, refunded.credit_note.amount_available) == ("refund_due", 600)
    assert refunded.transaction.refunded_txn_id == payment.id
    rest = api.CreditNote.refund(note.id)
    assert (rest.credit_note.status, rest.transaction.amount) == ("refunded", 600)
    with pytest.raises(chargebee.InvalidRequestError):
        api.CreditNote.refund(note.id)


def test_a_dispute_opened_by_the_bank_is_retrieved_and_listed(api: Any, url: str) -> None:
    invoice, payment = paid(api, "cus-r4")
    opened = httpx.post(f"{url}/_sandbox/disputes", json={"transaction_id": payment.id, "amount": 5000})
    assert opened.status_code == 200, opened.text
    dispute = api.Dispute.retrieve(opened.json()["dispute"]["id"]).dispute
    assert (dispute.transaction_id, dispute.amount, dispute.currency_code) == (payment.id, 5000, "USD")
    assert (dispute.type, dispute.status, dispute.is_partial_dispute) == ("chargeback", "funds_withdrawn", True)
    listed = api.Dispute.list({"transaction_id": {"is": payment.id}}).list
    assert [entry.dispute.id for entry in listed] == [dispute.id]
    again = httpx.post(f"{url}/_sandbox/disputes", json={"transaction_id": payment.id})
    assert again.status_code == 400
    assert again.json()["api_error_code"] == "invalid_state_for_request"
