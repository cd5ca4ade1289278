"""The Chargebee emulator through Chargebee's official Python SDK (`chargebee` v3): what the SDK sends (form bodies
in bracket notation, basic auth, the idempotency header) the emulator reads, and what it answers the SDK parses,
errors included."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from sandbox.chargebee.app import vendor_error as cb_vendor_error
from tests.support import chargebee as cb
from tests.support.chargebee import fresh_site  # noqa: F401 - the fixture `url`
from tests.support.sdk import vendor_sdk

chargebee = vendor_sdk("chargebee")


@pytest.fixture
def api(url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    return cb.sdk(url, monkeypatch)


def catalog(api: Any, currency: str = "USD") -> tuple[str, str]:
    """A plan and an addon item price (monthly) in `currency`; their ids."""
    api.ItemFamily.create({"id": "c2c", "name": "c2c"})
    api.Item.create({"id": "base", "name": "Base", "type": "plan", "item_family_id": "c2c"})
    api.Item.create({"id": "PLAT-SEAT", "name": "Seat", "type": "addon", "item_family_id": "c2c"})
    plan = f"base-{currency.lower()}"
    seat = f"plat-seat-month-{currency.lower()}-4900"
    for price_id, item_id, price in ((plan, "base", 0), (seat, "PLAT-SEAT", 4900)):
        api.ItemPrice.create(
            {
                "id": price_id,
                "item_id": item_id,
                "name": price_id,
                "pricing_model": "per_unit",
                "price": price,
                "currency_code": currency,
                "period": 1,
                "period_unit": "month",
            }
        )
    return plan, seat


def test_customers_with_our_id_custom_fields_and_lookup(api: Any) -> None:
    created = api.Customer.create(
        {
            "id": "c2c-gc_1",
            "company": "Initech",
            "auto_collection": "off",
            "billing_address": {
                "line1": "1 Main St",
                "city": "Austin",
                "state_code": "TX",
                "zip": "78701",
                "country": "US",
            },
            "payment_method": {"type": "card", "reference_id": "tok_visa"},
            "cf_golden_id": "gc_1",
        }
    ).customer
    assert created.id == "c2c-gc_1"
    assert created.company == "Initech"
    assert created.billing_address.city == "Austin"
    assert created.raw_data["cf_golden_id"] == "gc_1"
    found = api.Customer.list({"id": {"is": "c2c-gc_1"}})
    assert [entry.customer.id for entry in found.list] == ["c2c-gc_1"]
    assert api.Customer.list({"id": {"is": "nobody"}}).list == []
    updated = api.Customer.update("c2c-gc_1", {"company": "Initech GmbH"}).customer
    assert api.Customer.retrieve("c2c-gc_1").customer.company == updated.company == "Initech GmbH"


def test_a_duplicate_id_and_an_unknown_id_are_the_sdks_error_classes(api: Any) -> None:
    api.Customer.create({"id": "dup", "company": "A"})
    with pytest.raises(chargebee.InvalidRequestError) as duplicate:
        api.Customer.create({"id": "dup", "company": "B"})
    assert duplicate.value.api_error_code == "duplicate_entry"
    assert duplicate.value.param == "id"
    assert duplicate.value.http_status_code == 400
    with pytest.raises(chargebee.InvalidRequestError) as missing:
        api.Customer.retrieve("nobody")
    assert missing.value.api_error_code == "resource_not_found"
    assert missing.value.http_status_code == 404


def test_subscription_for_items_pending_first_invoice_charge_close_and_collect(api: Any) -> None:
    plan, seat = catalog(api)
    api.Customer.create(
        {
            "id": "cus-1",
            "company": "Initech",
            "auto_collection": "off",
            "payment_method": {"type": "card", "reference_id": "tok_visa"},
        }
    )
    made = api.Subscription.create_with_items(
        "cus-1",
        {
            "id": "sub-deal-1",
            "subscription_items": [
                {"item_price_id": plan, "quantity": 1},
                {"item_price_id": seat, "quantity": 10, "unit_price": 4500},
            ],
            "create_pending_invoices": True,
            "first_invoice_pending": True,
            "auto_collection": "off",
        },
    )
    assert made.subscription.id == "sub-deal-1"
    assert made.subscription.status == "active"
    invoice = made.invoice
    assert invoice.status == "pending"
    assert invoice.total == 45000
    assert invoice.first_invoice
    assert {line.entity_id: line.amount for line in invoice.line_items} == {plan: 0, seat: 45000}
    listed = api.Invoice.list({"subscription_id": {"is": "sub-deal-1"}})
    assert [entry.invoice.id for entry in listed.list] == [invoice.id]
    taxed = api.Invoice.add_charge(invoice.id, {"amount": 3713, "description": "Tax (doc-1)"}).invoice
    assert taxed.total == 48713
    closed = api.Invoice.close(invoice.id).invoice
    assert closed.status == "payment_due"
    assert closed.amount_due == 48713
    paid = api.Invoice.collect_payment(invoice.id)
    assert paid.invoice.status == "paid"
    assert paid.transaction.status == "success"
    assert paid.transaction.linked_invoices[0].invoice_id == invoice.id
    transactions = api.Transaction.list({"customer_id": {"is": "cus-1"}}).list
    assert [entry.transaction.amount for entry in transactions] == [48713]
    with pytest.raises(chargebee.InvalidRequestError) as again:
        api.Invoice.collect_payment(invoice.id)
    assert again.value.api_error_code == "invalid_state_for_request"


def test_a_declined_card_is_a_payment_error_and_leaves_the_invoice_not_paid(api: Any) -> None:
    plan, seat = catalog(api)
    api.Customer.create(
        {
            "id": "cus-2",
            "auto_collection": "off",
            "payment_method": {"type": "card", "reference_id": "tok_chargeDeclined"},
        }
    )
    invoice = api.Subscription.create_with_items(
        "cus-2", {"subscription_items": [{"item_price_id": plan}, {"item_price_id": seat, "quantity": 1}]}
    ).invoice
    with pytest.raises(chargebee.PaymentError) as declined:
        api.Invoice.collect_payment(invoice.id)
    assert declined.value.api_error_code == "payment_processing_failed"
    assert api.Invoice.retrieve(invoice.id).invoice.status == "not_paid"
    recorded = api.Invoice.record_payment(
        invoice.id, {"transaction": {"payment_method": "bank_transfer", "reference_number": "wire-1"}}
    )
    assert recorded.invoice.status == "paid"
    assert recorded.transaction.payment_method == "bank_transfer"


def test_credit_notes_with_a_reason_code_and_void(api: Any) -> None:
    plan, seat = catalog(api)
    api.Customer.create({"id": "cus-3", "auto_collection": "off"})
    first = api.Subscription.create_with_items(
        "cus-3", {"subscription_items": [{"item_price_id": plan}, {"item_price_id": seat, "quantity": 2}]}
    ).invoice
    note = api.CreditNote.create(
        {"reference_invoice_id": first.id, "total": 1000, "type": "adjustment", "reason_code": "waiver"}
    )
    assert note.credit_note.reason_code == "waiver"
    assert note.credit_note.total == 1000
    assert note.invoice.amount_due == 9800 - 1000
    notes = api.CreditNote.list({"reference_invoice_id": {"is": first.id}}).list
    assert [entry.credit_note.id for entry in notes] == [note.credit_note.id]
    with pytest.raises(chargebee.InvalidRequestError) as too_much:
        api.CreditNote.create(
            {"reference_invoice_id": first.id, "total": 9000, "type": "adjustment", "reason_code": "waiver"}
        )
    assert too_much.value.param == "total"
    voided = api.Invoice.void_invoice(first.id, {"void_reason_code": "cancelled"}).invoice
    assert voided.status == "voided"


def test_the_idempotency_header_replays_the_first_answer(api: Any, url: str) -> None:
    key = f"sdk-{uuid.uuid4().hex}"
    first = api.Customer.create({"id": "idem-1", "company": "Once"}, {"chargebee-idempotency-key": key})
    again = api.Customer.create({"id": "idem-1", "company": "Once"}, {"chargebee-idempotency-key": key})
    assert again.is_idempotency_replayed
    assert not first.is_idempotency_replayed
    assert again.customer.id == first.customer.id
    assert [c["id"] for c in cb.state(url)["customers"]] == ["idem-1"]
    with pytest.raises(chargebee.InvalidRequestError):  # the same key for another request
        api.Customer.create({"id": "idem-2", "company": "Other"}, {"chargebee-idempotency-key": key})


def test_lists_page_with_limit_and_next_offset(api: Any) -> None:
    for n in range(5):
        api.Customer.create({"id": f"page-{n}"})
    first = api.Customer.list({"limit": 2})
    assert len(first.list) == 2
    assert first.next_offset
    seen = [entry.customer.id for entry in first.list]
    offset = first.next_offset
    while offset:
        page = api.Customer.list({"limit": 2, "offset": offset})
        seen += [entry.customer.id for entry in page.list]
        offset = page.next_offset
    assert sorted(seen) == [f"page-{n}" for n in range(5)]


def test_auth_rate_limit_and_server_errors_are_sdk_errors(api: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = cb.sdk(url, monkeypatch)
    wrong.env.api_key = "not-the-key"
    with pytest.raises(chargebee.APIError) as refused:
        wrong.Customer.list()
    assert refused.value.api_error_code == "api_authentication_failed"
    assert refused.value.http_status_code == 401
    httpx.post(f"{url}/_sandbox/limits", json={"minute": 0}).raise_for_status()
    try:
        with pytest.raises(chargebee.APIError) as limited:
            api.Customer.list()
        assert limited.value.api_error_code == "api_request_limit_exceeded"
        assert limited.value.http_status_code == 429
    finally:
        httpx.post(f"{url}/_sandbox/limits", json={"minute": None}).raise_for_status()
    httpx.post(
        f"{url}/_sandbox/faults",
        json={
            "kind": "status",
            "status": 503,
            "path_prefix": "/api/v2/invoices",
            "body": cb_vendor_error("/api/v2/invoices", 503),
        },
    ).raise_for_status()
    with pytest.raises(chargebee.APIError) as unavailable:
        api.Invoice.retrieve("1")
    assert unavailable.value.api_error_code == "internal_temporary_error"
    assert not isinstance(
        unavailable.value, chargebee.InvalidRequestError | chargebee.OperationFailedError | chargebee.PaymentError
    )
