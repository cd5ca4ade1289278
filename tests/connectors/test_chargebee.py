"""The Chargebee connector against the emulator: the first-invoice saga's billing steps, the undo steps, and
refusals (bad input, declines, Chargebee's errors) in the taxonomy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from canonical import Money, PaymentStatus
from connectors.chargebee import ChargebeeBilling
from connectors.chargebee.errors import classify
from connectors.errors import BusinessRuleError, PermanentError, TransientError
from tests.support import chargebee as cb
from tests.support.chargebee import fresh_site  # noqa: F401 - the fixture `url`


@pytest.fixture
async def billing(url: str) -> AsyncIterator[ChargebeeBilling]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield cb.connector(http, url)


def golden() -> str:
    return f"gc_{uuid.uuid4().hex[:20]}"


async def test_the_first_invoice_saga_customer_prices_subscription_tax_close_send_collect(
    billing: ChargebeeBilling, url: str
) -> None:
    gid = golden()
    customer_id = await billing.create_customer(gid, "Beispiel GmbH", idempotency_key=f"c2c:customer:{gid}:billing")
    assert customer_id == f"c2c-{gid}"
    assert await billing.upsert_customer(cb.de_customer(gid), idempotency_key="s:onboard") == customer_id
    contract = cb.de_contract("D1", gid)
    prices = await cb.price_ids(billing, contract, "s:prices")
    subscription = await billing.create_subscription(customer_id, contract, prices, idempotency_key="s:activate")
    assert subscription.id == "c2c-sub-D1"
    assert {(i.product_code, i.quantity) for i in subscription.items} == {("PLAT-SEAT", 10), ("ANALYTICS", 1)}
    expected = cb.de_invoice(contract)
    invoice = await billing.create_invoice(customer_id, subscription.id, expected, idempotency_key="s:invoice")
    assert (invoice.total, invoice.tax, invoice.status) == (expected.total, expected.tax, "draft")
    invoice_id = invoice.external_refs["chargebee"]
    finalized = await billing.finalize_invoice(invoice_id, idempotency_key="s:finalize")
    assert (finalized.status, finalized.golden_customer_id, finalized.legal_entity) == ("open", gid, "DE01")
    assert finalized.tax_document_code == "c2c-salesforce-D1"
    assert {line.product_code for line in finalized.lines} == {"PLAT-SEAT", "ANALYTICS"}
    await billing.send_invoice(invoice_id, idempotency_key="s:send")
    payment = await billing.collect_payment(invoice_id, idempotency_key="s:collect")
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.amount == expected.total
    assert payment == await billing.payment_for_invoice(invoice_id)
    # Everything ran twice (a retried activity) changes nothing.
    assert await billing.create_customer(gid, "Beispiel GmbH", idempotency_key="other") == customer_id
    again = await billing.create_subscription(customer_id, contract, prices, idempotency_key="other")
    assert again.id == subscription.id
    assert (await billing.collect_payment(invoice_id, idempotency_key="other")).external_refs == payment.external_refs
    state = cb.state(url)
    assert [c["id"] for c in state["customers"]] == [customer_id]
    assert len(state["subscriptions"]) == 1
    assert len(state["invoices"]) == 1
    assert len(state["transactions"]) == 1
    assert sum(1 for line in state["invoices"][0]["line_items"] if line["entity_type"] == "adhoc") == 1


async def test_an_invoice_that_bills_other_lines_is_refused_and_nothing_is_added(
    billing: ChargebeeBilling, url: str
) -> None:
    gid = golden()
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="k:c")
    contract = cb.de_contract("D2", gid)
    prices = await cb.price_ids(billing, contract, "k:p")
    subscription = await billing.create_subscription(customer_id, contract, prices, idempotency_key="k:s")
    other = cb.de_invoice(cb.de_contract("D2", gid, seats=11))
    with pytest.raises(PermanentError) as refused:
        await billing.create_invoice(customer_id, subscription.id, other, idempotency_key="k:i")
    assert refused.value.code == "invoice_mismatch"
    assert not [line for line in cb.state(url)["invoices"][0]["line_items"] if line["entity_type"] == "adhoc"]


async def test_a_declined_card_is_a_business_refusal(url: str) -> None:
    async with httpx.AsyncClient(timeout=5.0) as http:
        billing = cb.connector(http, url, payment_method="tok_chargeDeclined")
        gid = golden()
        customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="d:c")
        contract = cb.de_contract("D3", gid)
        subscription = await billing.create_subscription(
            customer_id, contract, await cb.price_ids(billing, contract, "d:p"), idempotency_key="d:s"
        )
        invoice = await billing.create_invoice(
            customer_id, subscription.id, cb.de_invoice(contract), idempotency_key="d:i"
        )
        invoice_id = invoice.external_refs["chargebee"]
        await billing.finalize_invoice(invoice_id, idempotency_key="d:f")
        with pytest.raises(BusinessRuleError) as declined:
            await billing.collect_payment(invoice_id, idempotency_key="d:collect")
        assert declined.value.code == "card_declined"
        assert (await billing.payment_for_invoice(invoice_id)).status is PaymentStatus.FAILED


async def test_compensation_void_cancel_and_credit_after_the_pivot(billing: ChargebeeBilling, url: str) -> None:
    gid = golden()
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="u:c")
    contract = cb.de_contract("D4", gid)
    prices = await cb.price_ids(billing, contract, "u:p")
    subscription = await billing.create_subscription(customer_id, contract, prices, idempotency_key="u:s")
    invoice = await billing.create_invoice(customer_id, subscription.id, cb.de_invoice(contract), idempotency_key="u:i")
    invoice_id = invoice.external_refs["chargebee"]
    await billing.finalize_invoice(invoice_id, idempotency_key="u:f")
    credit = await billing.credit_invoice(invoice_id, "order_cancellation", idempotency_key="u:credit")
    assert credit is not None
    assert await billing.credit_invoice(invoice_id, "order_cancellation", idempotency_key="u:credit") == credit
    notes = cb.state(url)["credit_notes"]
    assert [(n["id"], n["total"], n["reason_code"]) for n in notes] == [
        (credit, invoice.total.amount, "order_cancellation")
    ]
    await billing.cancel_subscription(subscription.id, idempotency_key="u:cancel")
    await billing.cancel_subscription(subscription.id, idempotency_key="u:cancel")
    assert cb.state(url)["subscriptions"][0]["status"] == "cancelled"
    with pytest.raises(BusinessRuleError) as too_much:
        await billing.create_credit_note(invoice_id, Money(amount=1, currency="EUR"), "waiver", idempotency_key="u:x")
    assert too_much.value.code == "credit_exceeds_invoice"


async def test_a_pending_first_invoice_is_voided_when_the_saga_unwinds_before_the_pivot(
    billing: ChargebeeBilling, url: str
) -> None:
    gid = golden()
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="v:c")
    contract = cb.de_contract("D5", gid)
    subscription = await billing.create_subscription(
        customer_id, contract, await cb.price_ids(billing, contract, "v:p"), idempotency_key="v:s"
    )
    await billing.cancel_subscription(subscription.id, idempotency_key="v:cancel")
    state = cb.state(url)
    assert state["invoices"][0]["status"] == "voided"
    assert state["subscriptions"][0]["status"] == "cancelled"
    await billing.void_invoice(state["invoices"][0]["id"], idempotency_key="v:void")  # already void: done


async def test_bad_input_is_refused_before_anything_is_written(billing: ChargebeeBilling, url: str) -> None:
    nameless = cb.de_customer(golden()).model_copy(update={"golden_id": None})
    with pytest.raises(PermanentError, match="missing_golden_id"):
        await billing.upsert_customer(nameless, idempotency_key="b:c")
    gid = golden()
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="b:c2")
    with pytest.raises(PermanentError) as unpriced:
        await billing.create_subscription(customer_id, cb.de_contract("D6", gid), {}, idempotency_key="b:s")
    assert unpriced.value.code == "price_missing"
    with pytest.raises(PermanentError) as unknown:
        await billing.finalize_invoice("no-such-invoice", idempotency_key="b:f")
    assert unknown.value.code == "resource_missing"
    assert cb.state(url)["subscriptions"] == []


async def test_methods_beyond_the_first_invoice_refuse_naming_themselves(billing: ChargebeeBilling) -> None:
    now = datetime.now(UTC)
    with pytest.raises(PermanentError, match="ChargebeeBilling.usage_of_period") as refused:
        await billing.usage_of_period("seats", "cust", now, now + timedelta(days=1))
    assert refused.value.code == "unsupported"


async def test_dunnings_end_writes_the_invoice_off_once(billing: ChargebeeBilling, url: str) -> None:
    gid = golden()
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="w:c")
    contract = cb.de_contract("D7", gid)
    subscription = await billing.create_subscription(
        customer_id, contract, await cb.price_ids(billing, contract, "w:p"), idempotency_key="w:s"
    )
    invoice = await billing.create_invoice(customer_id, subscription.id, cb.de_invoice(contract), idempotency_key="w:i")
    invoice_id = invoice.external_refs["chargebee"]
    with pytest.raises(PermanentError) as pending:
        await billing.mark_uncollectible(invoice_id, idempotency_key="w:off")
    assert pending.value.code == "invoice_not_open"
    await billing.finalize_invoice(invoice_id, idempotency_key="w:f")
    await billing.mark_uncollectible(invoice_id, idempotency_key="w:off")
    await billing.mark_uncollectible(invoice_id, idempotency_key="w:off-again")
    state = cb.state(url)
    assert [(n["reason_code"], n["total"]) for n in state["credit_notes"]] == [("write_off", invoice.total.amount)]
    assert (state["invoices"][0]["status"], state["invoices"][0]["write_off_amount"]) == ("paid", invoice.total.amount)


async def test_reconciliation_reads_the_sagas_records_in_the_canonical_words(billing: ChargebeeBilling) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    gid = golden()
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key="r:c")
    contract = cb.de_contract("D8", gid)
    subscription = await billing.create_subscription(
        customer_id, contract, await cb.price_ids(billing, contract, "r:p"), idempotency_key="r:s"
    )
    expected = cb.de_invoice(contract).model_copy(update={"external_refs": {"c2c": "c2c:salesforce:D8"}})
    invoice = await billing.create_invoice(customer_id, subscription.id, expected, idempotency_key="r:i")
    invoice_id = invoice.external_refs["chargebee"]
    await billing.finalize_invoice(invoice_id, idempotency_key="r:f")
    await billing.collect_payment(invoice_id, idempotency_key="r:pay")
    (read,) = await billing.invoices_created_since(since)
    assert (read.invoice_id, read.saga_id, read.status, read.legal_entity) == (
        invoice_id,
        "c2c:salesforce:D8",
        "paid",
        "DE01",
    )
    assert (read.total, read.tax, read.amount_paid) == (expected.total.amount, expected.tax.amount, read.total)
    assert read.payment_id is not None
    assert read.tax_document_code == expected.tax_document_code
    (sub,) = await billing.subscriptions_created_since(since)
    assert (sub.subscription_id, sub.deal_id, sub.status) == (subscription.id, "D8", "active")
    assert await billing.subscriptions_by_id([subscription.id, "nobody"]) == [sub]
    (customer,) = await billing.customers_of([gid, "gc_nobody"])
    assert (customer.customer_id, customer.golden_id, customer.fields.name) == (customer_id, gid, "Beispiel GmbH")
    await billing.cancel_subscription(subscription.id, idempotency_key="r:cancel")
    assert [s.status for s in await billing.subscriptions_by_id([subscription.id])] == ["canceled"]
    assert await billing.credit_notes_created_since(since) == []


def response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers, request=httpx.Request("POST", "http://cb/api/v2/x"))


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            429,
            {"message": "slow down", "api_error_code": "api_request_limit_exceeded"},
            TransientError,
            "api_request_limit_exceeded",
        ),
        (
            503,
            {"message": "busy", "api_error_code": "internal_temporary_error"},
            TransientError,
            "internal_temporary_error",
        ),
        (
            400,
            {
                "message": "(card_declined) Your card was declined.",
                "type": "payment",
                "api_error_code": "payment_processing_failed",
            },
            BusinessRuleError,
            "card_declined",
        ),
        (
            400,
            {"message": "no card", "type": "payment", "api_error_code": "payment_method_not_present"},
            BusinessRuleError,
            "payment_method_not_present",
        ),
        (
            400,
            {"message": "exists", "type": "invalid_request", "api_error_code": "duplicate_entry", "param": "id"},
            PermanentError,
            "duplicate_entry",
        ),
        (
            404,
            {"message": "missing", "type": "invalid_request", "api_error_code": "resource_not_found"},
            PermanentError,
            "resource_not_found",
        ),
        (
            401,
            {"message": "bad key", "api_error_code": "api_authentication_failed"},
            PermanentError,
            "api_authentication_failed",
        ),
    ],
)
def test_classify_maps_chargebees_errors_to_the_taxonomy(
    status: int, body: dict[str, Any], kind: type[Exception], code: str
) -> None:
    error = classify(response(status, body, {"Retry-After": "7"} if status == 429 else None))
    assert type(error) is kind
    assert error is not None
    assert error.code == code
    if status == 429:
        assert isinstance(error, TransientError)
        assert error.retry_after == 7
