"""Subscription updates with prorations, term ends, and credit notes in the Stripe emulator, driven by the official
`stripe` SDK over real HTTP: Stripe's proration items and amounts, their place on the next renewal invoice when
the test clock advances, `none` and `always_invoice`, `cancel_at` / `cancel_at_period_end` ending the
subscription instead of renewing, Stripe's refusals, and the amount rules of credit notes on paid invoices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.stripe_wire import state

HOUR, DAY = 3_600, 86_400
MARCH_1 = int(datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp())  # a 31-day period: Mar 1 -> Apr 1
APRIL_1 = int(datetime(2024, 4, 1, 12, tzinfo=UTC).timestamp())
MARCH_16 = MARCH_1 + 15 * DAY  # 16 days of the period left
PERIOD, LEFT = APRIL_1 - MARCH_1, APRIL_1 - MARCH_16


@pytest.fixture
async def url(emulators: Any, http: httpx.AsyncClient) -> str:
    base: str = emulators.url("stripe")
    (await http.post(f"{base}/_sandbox/reset")).raise_for_status()
    (await http.delete(f"{base}/_sandbox/faults")).raise_for_status()
    return base


@pytest.fixture
def sdk(url: str) -> Iterator[ModuleType]:
    stripe = pytest.importorskip("stripe")
    saved = (stripe.api_base, stripe.api_key)
    stripe.api_base, stripe.api_key = url, "sk_test_sandbox"
    yield stripe
    stripe.api_base, stripe.api_key = saved


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The synchronous SDK off the event loop (the emulator serves on it)."""
    return await asyncio.to_thread(function, *args, **kwargs)


def prorated(quantity: int, unit_amount: int, remaining: int = LEFT, period: int = PERIOD) -> int:
    """Stripe's proration of `quantity` x `unit_amount` for `remaining` seconds of a `period`, rounded."""
    return int(quantity * unit_amount * remaining / period + 0.5)


async def clock_at(stripe: ModuleType, frozen_time: int = MARCH_1) -> Any:
    return await call(stripe.test_helpers.TestClock.create, frozen_time=frozen_time)


async def advance(stripe: ModuleType, clock_id: str, frozen_time: int) -> None:
    await call(stripe.test_helpers.TestClock.advance, clock_id, frozen_time=frozen_time)
    for _ in range(250):
        clock = await call(stripe.test_helpers.TestClock.retrieve, clock_id)
        if clock.status == "ready":
            assert clock.frozen_time == frozen_time
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"clock {clock_id} still advancing")


async def price(stripe: ModuleType, name: str, unit_amount: int) -> Any:
    product = await call(stripe.Product.create, name=name)
    return await call(
        stripe.Price.create,
        product=product.id,
        currency="usd",
        unit_amount=unit_amount,
        recurring={"interval": "month"},
    )


async def subscribe(stripe: ModuleType, clock_id: str, *items: tuple[Any, int], **extra: Any) -> Any:
    customer = await call(
        stripe.Customer.create,
        name="Acme",
        test_clock=clock_id,
        invoice_settings={"default_payment_method": "pm_card_visa"},
    )
    lines = [{"price": p.id, "quantity": q} for p, q in items]
    return await call(stripe.Subscription.create, customer=customer.id, items=lines, **extra)


async def pending(http: httpx.AsyncClient, url: str, subscription_id: str) -> list[dict[str, Any]]:
    """The subscription's invoice items on no invoice yet, in creation order."""
    items = (await state(http, url))["invoiceitems"]
    return [i for i in items if i["subscription"] == subscription_id and i["invoice"] is None]


async def invoices_of(stripe: ModuleType, subscription_id: str) -> list[Any]:
    """Oldest first."""
    listed = await call(stripe.Invoice.list, subscription=subscription_id, limit=100)
    return list(reversed(listed.data))


# -- prorations ----------------------------------------------------------------------------------------------------


async def test_an_upsell_mid_period_prorates_as_stripe_does_and_the_renewal_bills_it(
    sdk: ModuleType, http: httpx.AsyncClient, url: str
) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    subscription = await subscribe(sdk, clock.id, (seat, 3))
    item_id = subscription["items"]["data"][0]["id"]
    await advance(sdk, clock.id, MARCH_16)

    updated = await call(sdk.Subscription.modify, subscription.id, items=[{"id": item_id, "quantity": 5}])

    assert updated["items"]["data"][0]["quantity"] == 5
    unused, remaining = await pending(http, url, subscription.id)
    assert (unused["amount"], unused["quantity"]) == (-prorated(3, 4_900), 3)
    assert (remaining["amount"], remaining["quantity"]) == (prorated(5, 4_900), 5)
    assert unused["description"] == "Unused time on 3 × Seat after 16 Mar 2024"
    assert remaining["description"] == "Remaining time on 5 × Seat after 16 Mar 2024"
    for proration in (unused, remaining):
        assert proration["proration"] is True
        assert proration["period"] == {"start": MARCH_16, "end": APRIL_1}
        assert (proration["subscription_item"], proration["price"]["id"]) == (item_id, seat.id)
    event = (await state(http, url))["events"][-1]
    assert event["type"] == "customer.subscription.updated"
    assert event["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 3

    await advance(sdk, clock.id, APRIL_1 + 2 * HOUR)

    renewal = (await invoices_of(sdk, subscription.id))[-1]
    assert renewal.billing_reason == "subscription_cycle"
    lines = renewal.lines.data
    assert [(line.type, line.proration, line.amount) for line in lines] == [
        ("subscription", False, 5 * 4_900),
        ("invoiceitem", True, -prorated(3, 4_900)),
        ("invoiceitem", True, prorated(5, 4_900)),
    ]
    assert renewal.total == 5 * 4_900 - prorated(3, 4_900) + prorated(5, 4_900)
    assert renewal.status == "paid"  # charged an hour after the renewal, as Stripe does
    assert await pending(http, url, subscription.id) == []


async def test_a_price_change_and_a_removed_item_prorate_at_the_given_proration_date(
    sdk: ModuleType, http: httpx.AsyncClient, url: str
) -> None:
    clock = await clock_at(sdk)
    seat, gold, analytics = await price(sdk, "Seat", 4_900), await price(sdk, "Gold seat", 9_900), None
    analytics = await price(sdk, "Analytics", 19_900)
    subscription = await subscribe(sdk, clock.id, (seat, 3), (analytics, 1))
    seat_item, analytics_item = (i["id"] for i in subscription["items"]["data"])
    await advance(sdk, clock.id, MARCH_16 + DAY)

    await call(
        sdk.Subscription.modify,
        subscription.id,
        items=[
            {"id": seat_item, "deleted": True},
            {"price": gold.id, "quantity": 2},
            {"id": analytics_item, "deleted": True},
        ],
        proration_date=MARCH_16,
    )

    found = await pending(http, url, subscription.id)
    assert sorted((p["description"], p["amount"]) for p in found) == sorted(
        [
            ("Unused time on 3 × Seat after 16 Mar 2024", -prorated(3, 4_900)),
            ("Unused time on 1 × Analytics after 16 Mar 2024", -prorated(1, 19_900)),
            ("Remaining time on 2 × Gold seat after 16 Mar 2024", prorated(2, 9_900)),
        ]
    )
    current = await call(sdk.Subscription.retrieve, subscription.id)
    assert [(i["price"]["id"], i["quantity"]) for i in current["items"]["data"]] == [(gold.id, 2)]


async def test_a_downsell_credits_the_unused_time(sdk: ModuleType, http: httpx.AsyncClient, url: str) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    subscription = await subscribe(sdk, clock.id, (seat, 5))
    await advance(sdk, clock.id, MARCH_16)

    item_id = subscription["items"]["data"][0]["id"]
    await call(sdk.Subscription.modify, subscription.id, items=[{"id": item_id, "quantity": 2}])

    amounts = [p["amount"] for p in await pending(http, url, subscription.id)]
    assert amounts == [-prorated(5, 4_900), prorated(2, 4_900)]
    assert sum(amounts) < 0


async def test_proration_behavior_none_changes_the_items_and_bills_nothing(
    sdk: ModuleType, http: httpx.AsyncClient, url: str
) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    subscription = await subscribe(sdk, clock.id, (seat, 3))
    await advance(sdk, clock.id, MARCH_16)

    item_id = subscription["items"]["data"][0]["id"]
    await call(
        sdk.Subscription.modify, subscription.id, items=[{"id": item_id, "quantity": 7}], proration_behavior="none"
    )

    assert await pending(http, url, subscription.id) == []
    assert (await call(sdk.Subscription.retrieve, subscription.id))["items"]["data"][0]["quantity"] == 7


async def test_always_invoice_bills_the_prorations_at_once(sdk: ModuleType, http: httpx.AsyncClient, url: str) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    subscription = await subscribe(sdk, clock.id, (seat, 3))
    await advance(sdk, clock.id, MARCH_16)

    item_id = subscription["items"]["data"][0]["id"]
    updated = await call(
        sdk.Subscription.modify,
        subscription.id,
        items=[{"id": item_id, "quantity": 4}],
        proration_behavior="always_invoice",
    )

    invoice = await call(sdk.Invoice.retrieve, updated.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    assert [line.proration for line in invoice.lines.data] == [True, True]
    assert invoice.total == prorated(4, 4_900) - prorated(3, 4_900)
    assert (invoice.status, invoice.amount_paid) == ("paid", invoice.total)  # charged automatically, at once
    assert await pending(http, url, subscription.id) == []


# -- term ends -----------------------------------------------------------------------------------------------------


async def test_cancel_at_period_end_set_by_an_update_ends_the_subscription_instead_of_renewing(
    sdk: ModuleType, http: httpx.AsyncClient, url: str
) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    subscription = await subscribe(sdk, clock.id, (seat, 3))

    updated = await call(sdk.Subscription.modify, subscription.id, cancel_at_period_end=True)
    assert (updated.cancel_at_period_end, updated.cancel_at) == (True, APRIL_1)
    await advance(sdk, clock.id, APRIL_1 + 2 * HOUR)

    ended = await call(sdk.Subscription.retrieve, subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", APRIL_1)
    assert [i.billing_reason for i in await invoices_of(sdk, subscription.id)] == ["subscription_create"]
    deleted = [e for e in (await state(http, url))["events"] if e["type"] == "customer.subscription.deleted"]
    assert [(e["data"]["object"]["id"], e["created"]) for e in deleted] == [(subscription.id, APRIL_1)]


async def test_cancel_at_moves_the_end_and_an_empty_cancel_at_clears_it(sdk: ModuleType) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    renewing = await subscribe(sdk, clock.id, (seat, 1), cancel_at=APRIL_1)
    ending = await subscribe(sdk, clock.id, (seat, 1))

    cleared = await call(sdk.Subscription.modify, renewing.id, cancel_at="")
    assert (cleared.cancel_at, cleared.cancel_at_period_end) == (None, False)
    await call(sdk.Subscription.modify, ending.id, cancel_at=APRIL_1)
    await advance(sdk, clock.id, APRIL_1 + 2 * HOUR)

    assert (await call(sdk.Subscription.retrieve, renewing.id)).status == "active"
    assert [i.billing_reason for i in await invoices_of(sdk, renewing.id)][-1] == "subscription_cycle"
    assert (await call(sdk.Subscription.retrieve, ending.id)).status == "canceled"


# -- refusals ------------------------------------------------------------------------------------------------------


async def test_stripe_refuses_unknown_parameters_a_canceled_subscription_and_a_date_outside_the_period(
    sdk: ModuleType, http: httpx.AsyncClient, url: str
) -> None:
    clock = await clock_at(sdk)
    seat = await price(sdk, "Seat", 4_900)
    subscription = await subscribe(sdk, clock.id, (seat, 3))
    item_id = subscription["items"]["data"][0]["id"]

    with pytest.raises(sdk.InvalidRequestError) as unknown:
        await call(sdk.Subscription.modify, subscription.id, prorate_everything=True)
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "prorate_everything")
    with pytest.raises(sdk.InvalidRequestError) as unknown_item:
        await call(sdk.Subscription.modify, subscription.id, items=[{"id": item_id, "colour": "red"}])
    assert unknown_item.value.param == "items[0][colour]"
    with pytest.raises(sdk.InvalidRequestError) as outside:
        await call(
            sdk.Subscription.modify,
            subscription.id,
            items=[{"id": item_id, "quantity": 4}],
            proration_date=APRIL_1 + DAY,
        )
    assert outside.value.param == "proration_date"
    with pytest.raises(sdk.InvalidRequestError) as same_price:
        await call(sdk.Subscription.modify, subscription.id, items=[{"price": seat.id}])
    assert "same price" in str(same_price.value.user_message)

    await call(sdk.Subscription.delete, subscription.id)
    with pytest.raises(sdk.InvalidRequestError) as canceled:
        await call(sdk.Subscription.modify, subscription.id, items=[{"id": item_id, "quantity": 4}])
    assert canceled.value.http_status == 400
    assert "canceled subscription" in str(canceled.value.user_message)
    assert await pending(http, url, subscription.id) == []


# -- credit notes --------------------------------------------------------------------------------------------------


async def paid_invoice(stripe: ModuleType, amount: int = 10_000) -> Any:
    customer = await call(
        stripe.Customer.create, name="Acme", invoice_settings={"default_payment_method": "pm_card_visa"}
    )
    invoice = await call(stripe.Invoice.create, customer=customer.id, currency="usd")
    await call(stripe.InvoiceItem.create, customer=customer.id, invoice=invoice.id, currency="usd", amount=amount)
    return await call(stripe.Invoice.pay, invoice.id)


async def test_a_credit_note_on_a_paid_invoice_splits_its_total_into_refund_credit_and_out_of_band(
    sdk: ModuleType, http: httpx.AsyncClient, url: str
) -> None:
    invoice = await paid_invoice(sdk)
    lines = [
        {"type": "custom_line_item", "description": "Unused time", "quantity": 2, "unit_amount": 2_000},
        {"type": "custom_line_item", "description": "Tax", "unit_amount": 400},
    ]

    with pytest.raises(sdk.InvalidRequestError) as mismatch:
        await call(sdk.CreditNote.create, invoice=invoice.id, lines=lines, refund_amount=4_000)
    assert mismatch.value.param == "refund_amount"
    note = await call(
        sdk.CreditNote.create, invoice=invoice.id, lines=lines, refund_amount=3_000, out_of_band_amount=1_400
    )

    assert (note.total, note.type, note.out_of_band_amount) == (4_400, "post_payment", 1_400)
    assert [(line.description, line.quantity, line.amount) for line in note.lines.data] == [
        ("Unused time", 2, 4_000),
        ("Tax", 1, 400),
    ]
    refund = await call(sdk.Refund.retrieve, note.refund)
    assert (refund.amount, refund.payment_intent) == (3_000, invoice.payment_intent)
    customer = await call(sdk.Customer.retrieve, invoice.customer)
    assert customer.balance == 0  # nothing went to the balance
    with pytest.raises(sdk.InvalidRequestError) as too_much:
        await call(sdk.CreditNote.create, invoice=invoice.id, amount=5_601, credit_amount=5_601)
    assert too_much.value.code == "amount_too_large"
    rest = await call(sdk.CreditNote.create, invoice=invoice.id, amount=5_600)
    assert rest.customer_balance_transaction is not None  # none of the three: all to the customer's balance
    assert (await call(sdk.Customer.retrieve, invoice.customer)).balance == -5_600


async def test_an_unpaid_invoice_takes_no_refund_amount(sdk: ModuleType) -> None:
    customer = await call(sdk.Customer.create, name="Acme")
    invoice = await call(sdk.Invoice.create, customer=customer.id, currency="usd")
    await call(sdk.InvoiceItem.create, customer=customer.id, invoice=invoice.id, currency="usd", amount=5_000)
    await call(sdk.Invoice.finalize_invoice, invoice.id)

    with pytest.raises(sdk.InvalidRequestError) as refused:
        await call(sdk.CreditNote.create, invoice=invoice.id, amount=1_000, refund_amount=1_000)
    assert refused.value.param == "refund_amount"
    note = await call(sdk.CreditNote.create, invoice=invoice.id, amount=1_000)
    assert note.type == "pre_payment"
    assert (await call(sdk.Invoice.retrieve, invoice.id)).amount_remaining == 4_000
