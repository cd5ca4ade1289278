"""StripeBilling's usage against the Stripe emulator over real HTTP: one meter per usage-priced product (found before
one is created), metered prices and items, usage reported once by its event id (a lost answer, a second attempt
under another key), a late event stamped into the open period, and the meter's event summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from canonical import DealLine, Money
from canonical.usage import UsageEvent, UsageReport
from connectors.errors import PermanentError, UncertainOutcome
from connectors.stripe import StripeBilling
from tests.support.stripe import arm, make_contract, make_customer, make_invoice, price, sandbox_state

USAGE_PRICE = price("API-CALLS", 2).model_copy(update={"meter": "api_calls"})


async def usage_subscription(billing: StripeBilling, key: str) -> tuple[str, str]:
    """A customer subscribed to seats and metered API calls; (customer id, subscription id)."""
    customer_id = await billing.upsert_customer(make_customer(f"gc_{key}"), idempotency_key=f"{key}:customer")
    price_ids = {
        "PLAT-SEAT": await billing.ensure_price(price(), "Platform seat", idempotency_key=f"{key}:p1"),
        "API-CALLS": await billing.ensure_price(USAGE_PRICE, "API calls", idempotency_key=f"{key}:p2"),
    }
    contract = make_contract().model_copy(
        update={
            "lines": make_contract().lines[:1],
            "usage_lines": [DealLine(product_code="API-CALLS", quantity=1, unit_price=Money(amount=2, currency="USD"))],
        }
    )
    subscription = await billing.create_subscription(
        customer_id, contract, price_ids, idempotency_key=f"{key}:subscription"
    )
    assert [item.product_code for item in subscription.items] == ["PLAT-SEAT"]  # the metered item has no quantity
    return customer_id, subscription.id


def report(customer_id: str, subscription_id: str, event_id: str, quantity: int, at: datetime) -> UsageReport:
    event = UsageEvent(event_id=event_id, subscription="006DEAL1", meter="api_calls", quantity=quantity, timestamp=at)
    return UsageReport(event=event, customer_id=customer_id, subscription_id=subscription_id)


async def test_a_metered_price_gets_one_meter_found_by_event_name_even_after_a_lost_answer(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    await arm(http, stripe_url, method="POST", path_prefix="/v1/billing/meters", kind="reset_after")
    with pytest.raises(UncertainOutcome):
        await billing.ensure_price(USAGE_PRICE, "API calls", idempotency_key="m1:price")
    first = await billing.ensure_price(USAGE_PRICE, "API calls", idempotency_key="m1:price")  # the activity's retry
    eur = USAGE_PRICE.model_copy(update={"unit_amount": Money(amount=2, currency="EUR")})
    second = await billing.ensure_price(eur, "API calls", idempotency_key="m2:price")
    state = await sandbox_state(http, stripe_url)
    [meter] = state["billing_meters"]
    assert meter["event_name"] == "api_calls"
    by_id = {p["id"]: p for p in state["prices"]}
    assert {by_id[first]["recurring"]["meter"], by_id[second]["recurring"]["meter"]} == {meter["id"]}
    assert by_id[first]["recurring"]["usage_type"] == "metered"


async def test_usage_is_reported_once_by_event_id_and_summed_by_the_meter(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, subscription_id = await usage_subscription(billing, "u1")
    at = datetime.now(UTC) + timedelta(seconds=5)  # in the open period, which began when it subscribed
    await arm(http, stripe_url, method="POST", path_prefix="/v1/billing/meter_events", kind="reset_after")
    with pytest.raises(UncertainOutcome):
        await billing.report_usage(report(customer_id, subscription_id, "e-1", 40, at), idempotency_key="k-1")
    retried = await billing.report_usage(report(customer_id, subscription_id, "e-1", 40, at), idempotency_key="k-1")
    other_key = await billing.report_usage(report(customer_id, subscription_id, "e-1", 40, at), idempotency_key="k-2")
    await billing.report_usage(report(customer_id, subscription_id, "e-2", 2, at), idempotency_key="k-3")
    assert (retried.duplicate, retried.late) == (False, False)
    assert other_key.duplicate  # Stripe refused the identifier: counted once
    start = at - timedelta(hours=1)
    assert await billing.usage_of_period("api_calls", customer_id, start, at + timedelta(minutes=2)) == 42


async def test_usage_of_a_closed_period_is_stamped_at_the_open_periods_start(
    billing: StripeBilling, http: httpx.AsyncClient, stripe_url: str
) -> None:
    customer_id, subscription_id = await usage_subscription(billing, "u2")
    [subscription] = (await sandbox_state(http, stripe_url))["subscriptions"]
    opened = datetime.fromtimestamp(subscription["current_period_start"], UTC)
    late = await billing.report_usage(
        report(customer_id, subscription_id, "old", 5, opened - timedelta(days=3)), idempotency_key="k-old"
    )
    assert (late.late, late.timestamp) == (True, opened)


async def test_usage_for_another_customers_subscription_is_refused(billing: StripeBilling) -> None:
    _, subscription_id = await usage_subscription(billing, "u3")
    with pytest.raises(PermanentError) as refused:
        await billing.report_usage(
            report("cus_other", subscription_id, "x", 1, datetime.now(UTC)), idempotency_key="k-x"
        )
    assert refused.value.code == "usage_mismatch"


async def test_the_first_invoice_leaves_the_metered_line_without_usage_out(billing: StripeBilling) -> None:
    customer_id, subscription_id = await usage_subscription(billing, "u4")
    invoice = make_invoice()
    invoice = invoice.model_copy(update={"lines": invoice.lines[:1]})
    completed = await billing.create_invoice(customer_id, subscription_id, invoice, idempotency_key="u4:invoice")
    assert [line.product_code for line in completed.lines] == ["PLAT-SEAT"]
    assert completed.adjustments == []
