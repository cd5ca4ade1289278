"""StripeBilling's amendments against the Stripe emulator over real HTTP: `update_subscription` prorating once
(repeats and retries after Stripe forgot the key change nothing), the renewal that bills the prorations mapped to
`adjustments` and completed with the tax line, `set_term_end`, and `issue_credit_note` exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from canonical import CreditNote, DealLine, Invoice, InvoiceAdjustment, InvoiceLine, Money, Subscription
from connectors.errors import BusinessRuleError, PermanentError
from connectors.stripe import StripeBilling
from tests.support.stripe import API_KEY, make_contract, make_customer, open_invoice, price, sandbox_state

HOUR, DAY = 3_600, 86_400
MARCH_1 = datetime(2024, 3, 1, 12, tzinfo=UTC)
MARCH_16 = datetime(2024, 3, 16, 12, tzinfo=UTC)
APRIL_1 = datetime(2024, 4, 1, 12, tzinfo=UTC)
LEFT, PERIOD = (APRIL_1 - MARCH_16).total_seconds(), (APRIL_1 - MARCH_1).total_seconds()


def prorated(quantity: int, unit_amount: int) -> int:
    return int(quantity * unit_amount * LEFT / PERIOD + 0.5)


def usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


def seats(quantity: int, analytics: int | None = 1) -> list[DealLine]:
    lines = [DealLine(product_code="PLAT-SEAT", quantity=quantity, unit_price=usd(49_00))]
    if analytics:
        lines.append(DealLine(product_code="ANALYTICS", quantity=analytics, unit_price=usd(199_00)))
    return lines


async def stripe_post(http: httpx.AsyncClient, url: str, path: str, data: dict[str, str]) -> dict[str, Any]:
    response = await http.post(f"{url}{path}", data=data, headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def advance(http: httpx.AsyncClient, url: str, clock_id: str, to: datetime) -> None:
    path = f"/v1/test_helpers/test_clocks/{clock_id}"
    await stripe_post(http, url, f"{path}/advance", {"frozen_time": str(int(to.timestamp()))})
    for _ in range(250):
        clock = (await http.get(f"{url}{path}", headers={"Authorization": f"Bearer {API_KEY}"})).json()
        if clock["status"] == "ready":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"clock {clock_id} still advancing")


async def subscribed_on_clock(
    billing: StripeBilling, http: httpx.AsyncClient, url: str, key: str
) -> tuple[str, str, Subscription, dict[str, str]]:
    """A clock at March 1st 2024 with a customer subscribed (10 seats, analytics) on it: clock, customer, ..."""
    clock = await stripe_post(http, url, "/v1/test_helpers/test_clocks", {"frozen_time": str(int(MARCH_1.timestamp()))})
    billing.test_clock = clock["id"]
    customer_id = await billing.upsert_customer(make_customer(), idempotency_key=f"{key}:customer")
    price_ids = {
        "PLAT-SEAT": await billing.ensure_price(price(), "Platform seat", idempotency_key=f"{key}:p1"),
        "ANALYTICS": await billing.ensure_price(price("ANALYTICS", 199_00), "Analytics", idempotency_key=f"{key}:p2"),
    }
    contract = make_contract(start=MARCH_1.date())
    subscription = await billing.create_subscription(
        customer_id, contract, price_ids, idempotency_key=f"{key}:subscription"
    )
    return clock["id"], customer_id, subscription, price_ids


async def prorations(http: httpx.AsyncClient, url: str, subscription_id: str) -> list[tuple[str, int]]:
    items = (await sandbox_state(http, url))["invoiceitems"]
    return [(i["description"], i["amount"]) for i in items if i["subscription"] == subscription_id and i["proration"]]


# -- update_subscription -------------------------------------------------------------------------------------------


async def test_update_subscription_prorates_once_however_often_it_is_repeated(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    clock_id, _, subscription, price_ids = await subscribed_on_clock(billing, http, stripe_url, "am1")
    await advance(http, stripe_url, clock_id, MARCH_16)

    for _ in range(2):
        await billing.update_subscription(subscription.id, seats(12), price_ids, MARCH_16, idempotency_key="am1:upd")
    (await http.post(f"{stripe_url}/_sandbox/reset_idempotency")).raise_for_status()
    await billing.update_subscription(subscription.id, seats(12), price_ids, MARCH_16, idempotency_key="am1:upd")

    assert await prorations(http, stripe_url, subscription.id) == [
        ("Unused time on 10 × Platform seat after 16 Mar 2024", -prorated(10, 49_00)),
        ("Remaining time on 12 × Platform seat after 16 Mar 2024", prorated(12, 49_00)),
    ]
    state = await sandbox_state(http, stripe_url)
    [stored] = [s for s in state["subscriptions"] if s["id"] == subscription.id]
    assert sorted((i["price"]["id"], i["quantity"]) for i in stored["items"]["data"]) == sorted(
        [(price_ids["PLAT-SEAT"], 12), (price_ids["ANALYTICS"], 1)]
    )
    assert [e["type"] for e in state["events"]].count("customer.subscription.updated") == 1


async def test_a_removed_product_and_a_new_price_replace_their_items(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    clock_id, _, subscription, price_ids = await subscribed_on_clock(billing, http, stripe_url, "am2")
    await advance(http, stripe_url, clock_id, MARCH_16)
    gold = await billing.ensure_price(
        price("PLAT-SEAT", 59_00).model_copy(update={"lookup_key": "gold"}), "Seat", idempotency_key="am2:gold"
    )
    lines = [DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=usd(59_00))]

    await billing.update_subscription(subscription.id, lines, {"PLAT-SEAT": gold}, MARCH_16, idempotency_key="am2:upd")

    [stored] = [s for s in (await sandbox_state(http, stripe_url))["subscriptions"] if s["id"] == subscription.id]
    assert [(i["price"]["id"], i["quantity"]) for i in stored["items"]["data"]] == [(gold, 10)]
    assert sorted(amount for _, amount in await prorations(http, stripe_url, subscription.id)) == sorted(
        [-prorated(10, 49_00), -prorated(1, 199_00), prorated(10, 59_00)]
    )
    with pytest.raises(PermanentError) as unmapped:
        await billing.update_subscription(subscription.id, seats(3), {}, MARCH_16, idempotency_key="am2:bad")
    assert unmapped.value.code == "price_not_mapped"


# -- the renewal that bills the prorations -------------------------------------------------------------------------


def renewal_invoice_of(adjustments: list[InvoiceAdjustment], tax: int) -> Invoice:
    def line(code: str, quantity: int, unit: int) -> InvoiceLine:
        return InvoiceLine(
            product_code=code, description=code, quantity=quantity, unit_amount=usd(unit), amount=usd(unit * quantity)
        )

    return Invoice(
        golden_customer_id="gc_acme",
        legal_entity="US01",
        currency="USD",
        issue_date=APRIL_1.date(),
        due_date=date(2024, 4, 2),
        lines=[line("PLAT-SEAT", 12, 49_00), line("ANALYTICS", 1, 199_00)],
        adjustments=adjustments,
        tax=usd(tax),
        tax_document_code="c2c-006DEAL1-2",
    )


async def test_a_renewal_with_prorations_maps_them_to_adjustments_and_completes_with_the_tax_line(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    clock_id, customer_id, subscription, price_ids = await subscribed_on_clock(billing, http, stripe_url, "am3")
    await advance(http, stripe_url, clock_id, MARCH_16)
    await billing.update_subscription(subscription.id, seats(12), price_ids, MARCH_16, idempotency_key="am3:upd")
    await advance(http, stripe_url, clock_id, datetime.fromtimestamp(APRIL_1.timestamp() + HOUR / 2, UTC))

    [renewal] = await billing.renewal_invoices(subscription.id)

    assert (renewal.period_start, renewal.period_end) == (APRIL_1, datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert [(a.product_code, a.quantity, a.amount.amount) for a in renewal.adjustments] == [
        ("PLAT-SEAT", 10, -prorated(10, 49_00)),
        ("PLAT-SEAT", 12, prorated(12, 49_00)),
    ]
    assert {(a.period_start, a.period_end) for a in renewal.adjustments} == {(MARCH_16.date(), APRIL_1.date())}
    assert await billing.renewal_invoice(renewal.invoice_id) == renewal

    with pytest.raises(PermanentError) as mismatch:
        await billing.complete_renewal_invoice(
            customer_id, renewal.invoice_id, renewal_invoice_of([], 50_00), idempotency_key="am3:wrong"
        )
    assert mismatch.value.code == "invoice_mismatch"
    assert "prorations" in str(mismatch.value)

    wanted = renewal_invoice_of(renewal.adjustments, 50_00)
    completed = await billing.complete_renewal_invoice(
        customer_id, renewal.invoice_id, wanted, idempotency_key="am3:renewal"
    )

    assert completed.adjustments == renewal.adjustments
    assert [(line.product_code, line.quantity) for line in completed.lines] == [("PLAT-SEAT", 12), ("ANALYTICS", 1)]
    assert (completed.tax, completed.total) == (usd(50_00), wanted.total)
    finalized = await billing.finalize_invoice(renewal.invoice_id, idempotency_key="am3:finalize")
    assert (finalized.total, finalized.adjustments) == (wanted.total, renewal.adjustments)


# -- set_term_end --------------------------------------------------------------------------------------------------


async def test_set_term_end_moves_and_clears_the_end_and_the_subscription_ends_there(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    clock_id, _, subscription, _ = await subscribed_on_clock(billing, http, stripe_url, "am4")

    async def stored() -> dict[str, Any]:
        found = (await sandbox_state(http, stripe_url))["subscriptions"]
        return next(s for s in found if s["id"] == subscription.id)

    await billing.set_term_end(subscription.id, APRIL_1, idempotency_key="am4:end")
    await billing.set_term_end(subscription.id, APRIL_1, idempotency_key="am4:end")
    assert ((await stored())["cancel_at"], (await stored())["cancel_at_period_end"]) == (
        int(APRIL_1.timestamp()),
        False,
    )
    await billing.set_term_end(subscription.id, None, idempotency_key="am4:renewed")
    assert (await stored())["cancel_at"] is None
    await billing.set_term_end(subscription.id, APRIL_1, idempotency_key="am4:cancel")

    await advance(http, stripe_url, clock_id, datetime.fromtimestamp(APRIL_1.timestamp() + HOUR, UTC))

    ended = await stored()
    assert (ended["status"], ended["ended_at"]) == ("canceled", int(APRIL_1.timestamp()))
    assert await billing.renewal_invoices(subscription.id) == []


# -- issue_credit_note ---------------------------------------------------------------------------------------------


def credit_for(invoice_id: str, amount: int, tax: int) -> CreditNote:
    return CreditNote(
        golden_customer_id="gc_acme",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2025, 3, 15),
        invoice_id=invoice_id,
        reason="order_change",
        lines=[
            InvoiceAdjustment(
                product_code="PLAT-SEAT",
                description="Unused time on 2 seats",
                quantity=2,
                amount=usd(amount),
                period_start=date(2025, 3, 15),
                period_end=date(2025, 4, 1),
            )
        ],
        tax=usd(tax),
    )


async def test_issue_credit_note_credits_an_open_invoice_exactly_once(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "am5")
    invoice_id = invoice.external_refs["stripe"]
    credit = credit_for(invoice_id, 45_00, 3_15)

    first = await billing.issue_credit_note(credit, idempotency_key="am5:credit")
    again = await billing.issue_credit_note(credit, idempotency_key="am5:credit")
    (await http.post(f"{stripe_url}/_sandbox/reset_idempotency")).raise_for_status()
    late = await billing.issue_credit_note(credit, idempotency_key="am5:credit")

    assert first.external_refs["stripe"].startswith("cn_")
    assert first == again == late
    assert first.created_at is not None  # Stripe's time: the source time of its credit_memo.applied event
    assert first.model_copy(update={"external_refs": {}, "created_at": None}) == credit
    state = await sandbox_state(http, stripe_url)
    [note] = state["credit_notes"]
    assert (note["id"], note["total"], note["type"]) == (first.external_refs["stripe"], 48_15, "pre_payment")
    assert [(line["description"], line["amount"]) for line in note["lines"]["data"]] == [
        ("Unused time on 2 seats", 45_00),
        ("Tax", 3_15),
    ]
    [stored] = [i for i in state["invoices"] if i["id"] == invoice_id]
    assert stored["amount_remaining"] == invoice.total.amount - 48_15


async def test_issue_credit_note_refunds_a_paid_invoice_and_refuses_more_than_it_can_credit(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    _, invoice = await open_invoice(billing, "am6")
    invoice_id = invoice.external_refs["stripe"]
    payment = await billing.collect_payment(invoice_id, idempotency_key="am6:pay")

    issued = await billing.issue_credit_note(credit_for(invoice_id, 45_00, 3_15), idempotency_key="am6:credit")

    state = await sandbox_state(http, stripe_url)
    [note] = state["credit_notes"]
    [refund] = state["refunds"]
    assert (note["id"], note["type"], note["refund"]) == (issued.external_refs["stripe"], "post_payment", refund["id"])
    assert (refund["amount"], refund["payment_intent"]) == (48_15, payment.external_refs["stripe"])
    too_much = credit_for(invoice_id, invoice.total.amount - 48_15 + 1, 0)
    with pytest.raises(BusinessRuleError) as refused:
        await billing.issue_credit_note(too_much, idempotency_key="am6:too-much")
    assert refused.value.code == "credit_exceeds_invoice"
    assert len((await sandbox_state(http, stripe_url))["credit_notes"]) == 1


# -- prorations billed at once (`immediate`) -----------------------------------------------------------------------


async def test_invoice_prorations_bills_a_net_charge_at_once_exactly_once_and_leaves_a_net_credit_pending(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    clock_id, customer_id, subscription, price_ids = await subscribed_on_clock(billing, http, stripe_url, "am9")
    await advance(http, stripe_url, clock_id, MARCH_16)
    await billing.update_subscription(subscription.id, seats(12), price_ids, MARCH_16, idempotency_key="am9:up")

    interim = await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="am9:up:now")
    assert interim is not None
    # Repeated, and again after Stripe forgot the key (a retry a day later): the same invoice, no second one.
    assert await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="am9:up:now") == interim
    (await http.post(f"{stripe_url}/_sandbox/reset_idempotency")).raise_for_status()
    assert await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="am9:up:now") == interim

    assert [(a.product_code, a.quantity, a.amount.amount) for a in interim.adjustments] == [
        ("PLAT-SEAT", 10, -prorated(10, 49_00)),
        ("PLAT-SEAT", 12, prorated(12, 49_00)),
    ]
    assert (interim.period_start, interim.period_end) == (MARCH_16, APRIL_1)
    state = await sandbox_state(http, stripe_url)
    made = [i for i in state["invoices"] if i["subscription"] == subscription.id and i["billing_reason"] == "manual"]
    assert [(i["id"], i["status"]) for i in made] == [(interim.invoice_id, "draft")]
    assert not [i for i in state["invoiceitems"] if i["subscription"] == subscription.id and i["invoice"] is None]

    # Completed like a renewal: prorations alone, no subscription lines, our tax line added.
    wanted = renewal_invoice_of(interim.adjustments, 3_00).model_copy(update={"lines": []})
    completed = await billing.complete_renewal_invoice(
        customer_id, interim.invoice_id, wanted, idempotency_key="am9:up:complete"
    )
    assert (completed.lines, completed.adjustments, completed.total) == ([], interim.adjustments, wanted.total)

    # A seat reduction nets to a credit: nothing is invoiced now, the prorations wait for the next invoice.
    await billing.update_subscription(subscription.id, seats(9), price_ids, MARCH_16, idempotency_key="am9:down")
    assert await billing.invoice_prorations(customer_id, subscription.id, idempotency_key="am9:down:now") is None
    pending = await prorations(http, stripe_url, subscription.id)
    assert sum(amount for _, amount in pending[-2:]) == prorated(9, 49_00) - prorated(12, 49_00)
    state = await sandbox_state(http, stripe_url)
    assert len([i for i in state["invoices"] if i["subscription"] == subscription.id]) == 2  # first + interim
