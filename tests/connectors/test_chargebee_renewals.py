"""The Chargebee connector's later periods against the emulator, time moved by Chargebee's time machine: the renewal
invoice read, completed with our tax line once and paid; an upsell prorated once on the next renewal (or invoiced
at once); the term ended where the lifecycle says; bad input refused with nothing written; a lost answer retried
after Chargebee forgot the key writes nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from canonical import DealLine, Invoice, Money, RenewalInvoice
from canonical.contract import term_end
from connectors.chargebee import ChargebeeBilling
from connectors.errors import PermanentError, UncertainOutcome
from tests.support import chargebee as cb

GENESIS = datetime(2030, 1, 10, 9, 30, tzinfo=UTC)
EUR = "EUR"


@pytest.fixture
async def url(emulators: Any) -> AsyncIterator[str]:
    url: str = emulators.url("chargebee")
    cb.reset(url)
    httpx.post(
        f"{url}/api/v2/time_machines/delorean/start_afresh",
        data={"genesis_time": int(GENESIS.timestamp())},
        auth=(cb.API_KEY, ""),
    ).raise_for_status()
    yield url
    cb.reset(url)


@pytest.fixture
async def billing(url: str) -> AsyncIterator[ChargebeeBilling]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield cb.connector(http, url)


def travel(url: str, to: datetime) -> None:
    answer = httpx.post(
        f"{url}/api/v2/time_machines/delorean/travel_forward",
        data={"destination_time": int(to.timestamp())},
        auth=(cb.API_KEY, ""),
    )
    answer.raise_for_status()


async def paid_subscription(billing: ChargebeeBilling, deal: str) -> tuple[str, Any, Any, dict[str, str]]:
    """A DE01 subscription (10 seats, analytics; 12 months, monthly) whose first invoice is paid."""
    gid = f"gc_{uuid.uuid4().hex[:20]}"
    customer_id = await billing.upsert_customer(cb.de_customer(gid), idempotency_key=f"{deal}:c")
    contract = cb.de_contract(deal, gid)
    prices = await cb.price_ids(billing, contract, f"{deal}:p")
    subscription = await billing.create_subscription(customer_id, contract, prices, idempotency_key=f"{deal}:s")
    invoice = await billing.create_invoice(customer_id, subscription.id, cb.de_invoice(contract), idempotency_key="i")
    invoice_id = invoice.external_refs["chargebee"]
    await billing.finalize_invoice(invoice_id, idempotency_key=f"{deal}:f")
    await billing.collect_payment(invoice_id, idempotency_key=f"{deal}:pay")
    return customer_id, subscription, contract, prices


def period_invoice(contract: Any, renewal: RenewalInvoice, tax: int) -> Invoice:
    """The canonical invoice the lifecycle asks for: the contract's lines, the renewal's prorations, the tax."""
    invoice = cb.de_invoice(contract, tax=tax, document=f"c2c-salesforce-{contract.deal_id}-p2")
    return invoice.model_copy(update={"adjustments": renewal.adjustments})


async def test_a_renewal_is_read_completed_with_tax_once_and_paid(billing: ChargebeeBilling, url: str) -> None:
    customer_id, subscription, contract, _ = await paid_subscription(billing, "R1")
    assert await billing.renewal_invoices(subscription.id) == []
    travel(url, subscription.current_period_end + timedelta(hours=1))

    [renewal] = await billing.renewal_invoices(subscription.id)
    assert (renewal.period_start, renewal.deal_id, renewal.status) == (subscription.current_period_end, "R1", "draft")
    assert renewal.adjustments == []
    assert await billing.renewal_invoice(renewal.invoice_id) == renewal
    expected = period_invoice(contract, renewal, tax=120_00)
    completed = await billing.complete_renewal_invoice(
        customer_id, renewal.invoice_id, expected, idempotency_key="R1:p2:invoice"
    )
    again = await billing.complete_renewal_invoice(customer_id, renewal.invoice_id, expected, idempotency_key="x")
    assert completed.total == again.total == expected.total
    assert (completed.golden_customer_id, completed.legal_entity) == (contract.golden_customer_id, "DE01")
    await billing.finalize_invoice(renewal.invoice_id, idempotency_key="R1:p2:finalize")
    closed = await billing.complete_renewal_invoice(customer_id, renewal.invoice_id, expected, idempotency_key="y")
    assert closed.status == "open"  # a retry after our own close: taken as it is
    payment = await billing.collect_payment(renewal.invoice_id, idempotency_key="R1:p2:pay")
    assert payment.amount == expected.total
    [data] = [i for i in cb.state(url)["invoices"] if i["id"] == renewal.invoice_id]
    assert [line["amount"] for line in data["line_items"] if line["entity_type"] == "adhoc"] == [120_00]
    [first] = [i for i in cb.state(url)["invoices"] if i.get("first_invoice")]
    assert await billing.renewal_invoice(first["id"]) is None  # the first invoice is no renewal


async def test_an_upsell_is_prorated_once_on_the_next_renewal(billing: ChargebeeBilling, url: str) -> None:
    customer_id, subscription, contract, prices = await paid_subscription(billing, "R2")
    start = subscription.created_at
    assert start is not None
    travel(url, start + timedelta(days=10))
    seats = [
        DealLine(product_code="PLAT-SEAT", quantity=15, unit_price=Money(amount=45_00, currency=EUR)),
        *contract.lines[1:],
    ]
    effective = start + timedelta(days=10)
    await billing.update_subscription(subscription.id, seats, prices, effective, idempotency_key="R2:up")
    httpx.post(f"{url}/_sandbox/reset_idempotency").raise_for_status()
    await billing.update_subscription(subscription.id, seats, prices, effective, idempotency_key="R2:up")  # no-op
    assert len(cb.state(url)["unbilled_charges"]) == 1
    travel(url, subscription.current_period_end + timedelta(minutes=5))

    [renewal] = await billing.renewal_invoices(subscription.id)
    [proration] = renewal.adjustments
    assert (proration.product_code, proration.quantity) == ("PLAT-SEAT", 5)
    assert 0 < proration.amount.amount < 5 * 45_00
    assert proration.period_end == subscription.current_period_end.date()
    upsold = contract.model_copy(update={"lines": seats})
    expected = period_invoice(upsold, renewal, tax=150_00)
    completed = await billing.complete_renewal_invoice(customer_id, renewal.invoice_id, expected, idempotency_key="k")
    assert completed.adjustments == [proration]
    assert completed.subtotal.amount == 15 * 45_00 + 199_00 + proration.amount.amount
    wrong = expected.model_copy(update={"adjustments": []})
    with pytest.raises(PermanentError) as mismatch:
        await billing.complete_renewal_invoice(customer_id, renewal.invoice_id, wrong, idempotency_key="k2")
    assert mismatch.value.code == "invoice_mismatch"


async def test_prorations_invoiced_at_once_are_found_again_after_a_lost_answer(
    billing: ChargebeeBilling, url: str
) -> None:
    customer_id, subscription, contract, prices = await paid_subscription(billing, "R3")
    seats = [DealLine(product_code="PLAT-SEAT", quantity=12, unit_price=Money(amount=45_00, currency=EUR))]
    lines = seats + contract.lines[1:]
    travel(url, GENESIS + timedelta(days=3))
    await billing.update_subscription(subscription.id, lines, prices, GENESIS, idempotency_key="R3:up")
    made = await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="R3:prorations")
    assert made is not None
    assert [(a.product_code, a.quantity) for a in made.adjustments] == [("PLAT-SEAT", 2)]
    httpx.post(f"{url}/_sandbox/reset_idempotency").raise_for_status()
    again = await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="R3:prorations")
    assert again == made  # the pending invoice of prorations alone, not a second one
    expected = Invoice(
        golden_customer_id=contract.golden_customer_id,
        legal_entity="DE01",
        currency=EUR,
        issue_date=GENESIS.date(),
        due_date=GENESIS.date(),
        lines=[],
        adjustments=made.adjustments,
        tax=Money(amount=10_00, currency=EUR),
        tax_document_code="c2c-salesforce-R3-p1-X",
    )
    await billing.complete_renewal_invoice(customer_id, made.invoice_id, expected, idempotency_key="R3:i")
    await billing.finalize_invoice(made.invoice_id, idempotency_key="R3:f")
    assert await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="R3:next") is None
    assert await billing.renewal_invoices(subscription.id) == []  # prorations alone are no renewal


async def test_the_term_ends_where_the_lifecycle_says_and_billing_reports_the_end(
    billing: ChargebeeBilling, url: str
) -> None:
    _, subscription, contract, _ = await paid_subscription(billing, "R4")
    renewed = term_end(GENESIS.date(), 24)  # midnight: the renewal dates fall later that day
    await billing.set_term_end(subscription.id, renewed, idempotency_key="R4:renew")
    [data] = cb.state(url)["subscriptions"]
    assert (data["status"], data["remaining_billing_cycles"]) == ("active", 23)
    await billing.set_term_end(subscription.id, renewed, idempotency_key="R4:renew:again")  # nothing sent
    await billing.set_term_end(subscription.id, subscription.current_period_end, idempotency_key="R4:end")
    [data] = cb.state(url)["subscriptions"]
    assert (data["status"], data["cancelled_at"]) == ("non_renewing", data["current_term_end"])
    assert await billing.subscription_end(subscription.id) is None
    with pytest.raises(PermanentError) as scheduled:
        await billing.set_term_end(subscription.id, renewed, idempotency_key="R4:renew:late")
    assert scheduled.value.code == "cancellation_scheduled"
    travel(url, subscription.current_period_end + timedelta(seconds=1))
    ended = await billing.subscription_end(subscription.id)
    assert ended is not None
    assert (ended.ended_at, ended.deal_id) == (subscription.current_period_end, "R4")
    assert await billing.renewal_invoices(subscription.id) == []  # ended at the term: no renewal


async def test_bad_input_is_refused_clearly_and_nothing_is_written(billing: ChargebeeBilling, url: str) -> None:
    _, subscription, contract, prices = await paid_subscription(billing, "R5")
    before = cb.state(url)
    calls = [
        billing.renewal_invoices("c2c-sub-NOPE"),
        billing.subscription_end("c2c-sub-NOPE"),
        billing.update_subscription("c2c-sub-NOPE", contract.lines, prices, GENESIS, idempotency_key="b1"),
        billing.set_term_end("c2c-sub-NOPE", GENESIS + timedelta(days=400), idempotency_key="b2"),
        billing.invoice_prorations("c2c-NOPE", "c2c-sub-NOPE", idempotency_key="b3"),
        billing.renewal_invoice("INV-NOPE"),
    ]
    for call in calls:
        with pytest.raises(PermanentError) as refused:
            await call
        assert refused.value.code == "resource_missing"
        assert "NOPE" in str(refused.value)
    fewer = [DealLine(product_code="PLAT-SEAT", quantity=5, unit_price=Money(amount=45_00, currency=EUR))]
    with pytest.raises(PermanentError) as lowered:  # Chargebee would credit it with a note c2c does not post yet
        await billing.update_subscription(
            subscription.id, fewer + contract.lines[1:], prices, GENESIS, idempotency_key="b4"
        )
    assert lowered.value.code == "unsupported"
    after = cb.state(url)
    for name in ("subscriptions", "invoices", "credit_notes", "unbilled_charges"):
        assert after[name] == before[name], name


async def test_a_lost_update_answer_retried_after_the_key_is_forgotten_prorates_once(url: str) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient, httpx.AsyncClient(timeout=5.0) as patient:
        setup = cb.connector(patient, url)
        _, subscription, contract, prices = await paid_subscription(setup, "R6")
        lines = [DealLine(product_code="PLAT-SEAT", quantity=11, unit_price=Money(amount=45_00, currency=EUR))]
        lines += contract.lines[1:]
        cb.arm(
            url,
            method="POST",
            path_prefix="/api/v2/subscriptions/",
            path_suffix="/update_for_items",
            kind="delay_after",
            seconds=1.0,
        )
        with pytest.raises(UncertainOutcome):
            await cb.connector(impatient, url).update_subscription(
                subscription.id, lines, prices, GENESIS, idempotency_key="R6:up"
            )
        httpx.post(f"{url}/_sandbox/reset_idempotency").raise_for_status()
        await setup.update_subscription(subscription.id, lines, prices, GENESIS, idempotency_key="R6:up")
    assert len(cb.state(url)["unbilled_charges"]) == 1
