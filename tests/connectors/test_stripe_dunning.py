"""Dunning and the undo after the pivot: send, mark uncollectible, credit what is due; lost answers, forgotten keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from canonical import Money, PaymentStatus
from connectors.errors import BusinessRuleError, PermanentError, UncertainOutcome
from connectors.stripe import StripeBilling
from tests.support.stripe import API_KEY, arm, open_invoice, sandbox_state, subscribe

TOTAL = 757_70  # make_invoice(): 10 × 49.00 + 199.00 + 68.70 tax


@pytest.fixture
async def impatient(stripe_url: str) -> AsyncIterator[StripeBilling]:
    """The connector with a 0.3 s timeout: a `delay_after` fault of 1 s loses the answer of a write that happened."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as client:
        yield StripeBilling(client, stripe_url, API_KEY)


async def events_of(http: httpx.AsyncClient, url: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in (await sandbox_state(http, url))["events"] if e["type"] == kind]


async def forget_keys(http: httpx.AsyncClient, url: str) -> None:
    """What 24 hours do to Stripe's idempotency keys."""
    (await http.post(f"{url}/_sandbox/reset_idempotency")).raise_for_status()


async def lose_the_answer(http: httpx.AsyncClient, url: str, path: str, write: Callable[[], Awaitable[object]]) -> None:
    """Run `write` while its answer is lost (the request is executed, the client times out)."""
    await arm(http, url, method="POST", path_prefix=path, kind="delay_after", seconds=1.0)
    with pytest.raises(UncertainOutcome):
        await write()


async def draft_one(billing: StripeBilling, http: httpx.AsyncClient, url: str, key: str) -> str:
    """The draft first invoice of a new subscription."""
    _, subscription = await subscribe(billing, key)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    found = await http.get(f"{url}/v1/subscriptions/{subscription.id}", headers=headers)
    return str(found.json()["latest_invoice"])


async def void_one(billing: StripeBilling, key: str) -> str:
    _, invoice = await open_invoice(billing, key)
    invoice_id = invoice.external_refs["stripe"]
    await billing.void_invoice(invoice_id, idempotency_key=f"{key}:void")
    return invoice_id


# -- send ----------------------------------------------------------------------------------------------------------


async def test_send_invoice_sends_once_per_key_and_a_paid_invoice_counts_as_sent(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf50")
    invoice_id = invoice.external_refs["stripe"]

    await billing.send_invoice(invoice_id, idempotency_key="wf50:send")
    await billing.send_invoice(invoice_id, idempotency_key="wf50:send")
    await billing.collect_payment(invoice_id, idempotency_key="wf50:collect")
    await billing.send_invoice(invoice_id, idempotency_key="wf50:send:after-payment")

    [sent] = await events_of(http, stripe_url, "invoice.sent")
    assert (sent["data"]["object"]["id"], sent["request"]["idempotency_key"]) == (invoice_id, "wf50:send")


async def test_send_invoice_refuses_drafts_and_void_invoices(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    draft_id = await draft_one(billing, http, stripe_url, "wf51")
    void_id = await void_one(billing, "wf51v")

    for invoice_id in (draft_id, void_id):
        with pytest.raises(PermanentError) as refused:
            await billing.send_invoice(invoice_id, idempotency_key="wf51:send")
        assert refused.value.code == "invoice_not_open"


async def test_send_invoice_retried_after_a_lost_answer_sends_once(
    billing: StripeBilling, impatient: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf52")
    invoice_id = invoice.external_refs["stripe"]

    await lose_the_answer(
        http,
        stripe_url,
        f"/v1/invoices/{invoice_id}/send",
        lambda: impatient.send_invoice(invoice_id, idempotency_key="wf52:send"),
    )
    await impatient.send_invoice(invoice_id, idempotency_key="wf52:send")

    assert len(await events_of(http, stripe_url, "invoice.sent")) == 1


# -- mark uncollectible --------------------------------------------------------------------------------------------


async def test_mark_uncollectible_is_repeatable_and_a_late_payment_is_still_taken(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf53")
    invoice_id = invoice.external_refs["stripe"]

    await billing.mark_uncollectible(invoice_id, idempotency_key="wf53:write-off")
    await billing.mark_uncollectible(invoice_id, idempotency_key="wf53:write-off:again")
    written_off = await billing.get_invoice(invoice_id)
    late = await billing.collect_payment(invoice_id, idempotency_key="wf53:collect")

    assert (written_off["status"], written_off["amount_remaining"]) == ("uncollectible", TOTAL)
    assert len(await events_of(http, stripe_url, "invoice.marked_uncollectible")) == 1
    assert (late.status, late.amount) == (PaymentStatus.SUCCEEDED, Money(amount=TOTAL, currency="USD"))
    assert (await billing.get_invoice(invoice_id))["status"] == "paid"


async def test_mark_uncollectible_refuses_a_paid_invoice_as_a_business_rule_and_a_void_one_as_permanent(
    billing: StripeBilling,
) -> None:
    _, paid = await open_invoice(billing, "wf54")
    paid_id = paid.external_refs["stripe"]
    await billing.collect_payment(paid_id, idempotency_key="wf54:collect")
    void_id = await void_one(billing, "wf54v")

    with pytest.raises(BusinessRuleError) as was_paid:
        await billing.mark_uncollectible(paid_id, idempotency_key="wf54:write-off")
    with pytest.raises(PermanentError) as was_void:
        await billing.mark_uncollectible(void_id, idempotency_key="wf54v:write-off")

    assert (was_paid.value.code, was_void.value.code) == ("invoice_paid", "invoice_void")


@pytest.mark.parametrize("keys_forgotten", [False, True])
async def test_mark_uncollectible_retried_after_a_lost_answer_is_done(
    billing: StripeBilling,
    impatient: StripeBilling,
    http: httpx.AsyncClient,
    stripe_url: str,
    keys_forgotten: bool,
) -> None:
    _, invoice = await open_invoice(billing, "wf55")
    invoice_id = invoice.external_refs["stripe"]

    await lose_the_answer(
        http,
        stripe_url,
        f"/v1/invoices/{invoice_id}/mark_uncollectible",
        lambda: impatient.mark_uncollectible(invoice_id, idempotency_key="wf55:write-off"),
    )
    if keys_forgotten:
        await forget_keys(http, stripe_url)
    await impatient.mark_uncollectible(invoice_id, idempotency_key="wf55:write-off")

    assert (await billing.get_invoice(invoice_id))["status"] == "uncollectible"
    assert len(await events_of(http, stripe_url, "invoice.marked_uncollectible")) == 1


async def test_an_uncollectible_invoice_can_be_voided(billing: StripeBilling) -> None:
    _, invoice = await open_invoice(billing, "wf56")
    invoice_id = invoice.external_refs["stripe"]
    await billing.mark_uncollectible(invoice_id, idempotency_key="wf56:write-off")

    await billing.void_invoice(invoice_id, idempotency_key="wf56:void")
    await billing.void_invoice(invoice_id, idempotency_key="wf56:void")

    assert (await billing.get_invoice(invoice_id))["status"] == "void"


# -- credit what is due --------------------------------------------------------------------------------------------


async def test_credit_invoice_credits_all_that_is_due_once_which_settles_the_invoice(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf57")
    invoice_id = invoice.external_refs["stripe"]
    await billing.send_invoice(invoice_id, idempotency_key="wf57:send")

    note = await billing.credit_invoice(invoice_id, "deal cancelled", idempotency_key="wf57:undo")
    again = await billing.credit_invoice(invoice_id, "deal cancelled", idempotency_key="wf57:undo")
    await forget_keys(http, stripe_url)
    after_24h = await billing.credit_invoice(invoice_id, "deal cancelled", idempotency_key="wf57:undo")
    other_key = await billing.credit_invoice(invoice_id, "deal cancelled", idempotency_key="wf57:undo:2")

    assert note is not None
    assert note.startswith("cn_")
    assert note == again == after_24h
    assert other_key is None  # nothing is due any more
    state = await sandbox_state(http, stripe_url)
    [stored] = state["credit_notes"]
    assert (stored["amount"], stored["type"], stored["memo"], stored["reason"]) == (
        TOTAL,
        "pre_payment",
        "deal cancelled",
        None,
    )
    assert stored["metadata"] == {"c2c_key": "wf57:undo"}
    [settled] = state["invoices"]
    assert (settled["status"], settled["amount_paid"], settled["amount_remaining"]) == ("paid", 0, 0)


async def test_credit_invoice_of_an_uncollectible_invoice_credits_what_remains(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf58")
    invoice_id = invoice.external_refs["stripe"]
    goodwill = Money(amount=10_00, currency="USD")
    await billing.create_credit_note(invoice_id, goodwill, "order_change", idempotency_key="wf58:goodwill")
    await billing.mark_uncollectible(invoice_id, idempotency_key="wf58:write-off")

    note = await billing.credit_invoice(invoice_id, "order_change", idempotency_key="wf58:undo")

    notes = {n["id"]: n for n in (await sandbox_state(http, stripe_url))["credit_notes"]}
    assert note is not None
    assert (notes[note]["amount"], notes[note]["reason"]) == (TOTAL - 10_00, "order_change")
    assert sum(n["amount"] for n in notes.values()) == TOTAL


@pytest.mark.parametrize("keys_forgotten", [False, True])
async def test_credit_invoice_retried_after_a_lost_answer_creates_exactly_one_credit_note(
    billing: StripeBilling,
    impatient: StripeBilling,
    http: httpx.AsyncClient,
    stripe_url: str,
    keys_forgotten: bool,
) -> None:
    _, invoice = await open_invoice(billing, "wf59")
    invoice_id = invoice.external_refs["stripe"]

    await lose_the_answer(
        http,
        stripe_url,
        "/v1/credit_notes",
        lambda: impatient.credit_invoice(invoice_id, "cancelled", idempotency_key="wf59:undo"),
    )
    if keys_forgotten:
        await forget_keys(http, stripe_url)
    note = await impatient.credit_invoice(invoice_id, "cancelled", idempotency_key="wf59:undo")

    assert [n["id"] for n in (await sandbox_state(http, stripe_url))["credit_notes"]] == [note]


async def test_credit_invoice_never_refunds_and_leaves_drafts_and_void_invoices_alone(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, paid = await open_invoice(billing, "wf60")
    paid_id = paid.external_refs["stripe"]
    await billing.collect_payment(paid_id, idempotency_key="wf60:collect")
    draft_id = await draft_one(billing, http, stripe_url, "wf60d")
    void_id = await void_one(billing, "wf60v")

    with pytest.raises(BusinessRuleError) as refused:
        await billing.credit_invoice(paid_id, "cancelled", idempotency_key="wf60:undo")
    from_draft = await billing.credit_invoice(draft_id, "cancelled", idempotency_key="wf60d:undo")
    from_void = await billing.credit_invoice(void_id, "cancelled", idempotency_key="wf60v:undo")

    assert refused.value.code == "invoice_paid"
    assert (from_draft, from_void) == (None, None)
    assert (await sandbox_state(http, stripe_url))["credit_notes"] == []


async def test_credit_invoice_waits_for_a_bank_debit_still_processing(
    http: httpx.AsyncClient, slow_stripe_url: str
) -> None:
    (await http.post(f"{slow_stripe_url}/_sandbox/reset")).raise_for_status()
    billing = StripeBilling(http, slow_stripe_url, API_KEY, default_payment_method="pm_usBankAccount")
    _, invoice = await open_invoice(billing, "wf61")
    invoice_id = invoice.external_refs["stripe"]
    await billing.collect_payment(invoice_id, idempotency_key="wf61:collect")

    with pytest.raises(BusinessRuleError) as processing:
        await billing.credit_invoice(invoice_id, "cancelled", idempotency_key="wf61:undo")

    assert processing.value.code == "payment_processing"
    assert (await sandbox_state(http, slow_stripe_url))["credit_notes"] == []


async def test_create_credit_note_is_found_by_its_key_after_stripe_forgot_it(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "wf62")
    invoice_id = invoice.external_refs["stripe"]
    amount = Money(amount=5_00, currency="USD")

    note = await billing.create_credit_note(invoice_id, amount, "order_change", idempotency_key="wf62:cn")
    await forget_keys(http, stripe_url)
    again = await billing.create_credit_note(invoice_id, amount, "order_change", idempotency_key="wf62:cn")

    assert note == again
    assert len((await sandbox_state(http, stripe_url))["credit_notes"]) == 1
