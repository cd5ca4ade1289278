"""Billing Meters in the Stripe emulator, as Stripe's own SDK sees them: meters created and listed, meter events
(deduplicated by `identifier`, timestamps checked against the customer's test clock), event summaries, and a
metered price billing the meter's usage of the period just ended on the renewal invoice."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.server import build_app
from tests.sandbox.test_stripe_sdk import Emulator, client_for
from tests.support.sdk import vendor_sdk
from tests.support.servers import Serve

stripe = vendor_sdk("stripe")

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def emulator(own_server: Serve) -> Emulator:
    url = own_server(build_app("stripe", async_settle_seconds=0.05)).url
    return Emulator(url, client_for(url))


def meter(sdk: Any, event_name: str = "api_calls") -> Any:
    return sdk.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
    )


def usage(sdk: Any, customer: str, value: int, identifier: str, timestamp: int, event_name: str = "api_calls") -> Any:
    return sdk.v1.billing.meter_events.create(
        params={
            "event_name": event_name,
            "payload": {"stripe_customer_id": customer, "value": str(value)},
            "identifier": identifier,
            "timestamp": timestamp,
        }
    )


def clocked_customer(sdk: Any) -> tuple[Any, Any]:
    clock = sdk.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    customer = sdk.v1.customers.create(params={"name": "Metered Co", "test_clock": clock.id})
    return clock, customer


def summary(sdk: Any, meter_id: str, customer: str, start: int, end: int) -> float:
    page = sdk.v1.billing.meters.event_summaries.list(
        meter_id, params={"customer": customer, "start_time": start, "end_time": end}
    )
    [only] = page.data
    assert only.object == "billing.meter_event_summary"
    return float(only.aggregated_value)


def test_meters_are_created_listed_and_their_event_name_is_unique(emulator: Emulator) -> None:
    sdk = emulator.client
    made = meter(sdk)
    assert made.object == "billing.meter"
    assert made.status == "active"
    assert made.default_aggregation.formula == "sum"
    assert made.customer_mapping.event_payload_key == "stripe_customer_id"
    assert made.value_settings.event_payload_key == "value"
    assert [m.id for m in sdk.v1.billing.meters.list(params={"status": "active"}).auto_paging_iter()] == [made.id]
    assert sdk.v1.billing.meters.retrieve(made.id).event_name == "api_calls"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        meter(sdk)
    assert refused.value.code == "resource_already_exists"


def test_meter_events_sum_per_customer_and_a_repeated_identifier_is_refused(emulator: Emulator) -> None:
    sdk = emulator.client
    made = meter(sdk)
    _, customer = clocked_customer(sdk)
    event = usage(sdk, customer.id, 7, "evt-1", T0 - 3_600)
    assert (event.object, event.identifier, event.timestamp) == ("billing.meter_event", "evt-1", T0 - 3_600)
    assert event.payload["value"] == "7"
    usage(sdk, customer.id, 5, "evt-2", T0 - 60)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        usage(sdk, customer.id, 7, "evt-1", T0 - 3_600)  # a retry of evt-1: counted once
    assert (refused.value.code, refused.value.param) == ("resource_already_exists", "identifier")
    assert summary(sdk, made.id, customer.id, T0 - DAY, T0) == 12
    assert summary(sdk, made.id, customer.id, T0 - 120, T0) == 5


def test_meter_event_timestamps_follow_the_customers_test_clock(emulator: Emulator) -> None:
    sdk = emulator.client
    meter(sdk)
    _, customer = clocked_customer(sdk)
    for bad in (T0 + 301, T0 - 36 * DAY):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            usage(sdk, customer.id, 1, f"at-{bad}", bad)
        assert refused.value.param == "timestamp"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        usage(sdk, customer.id, 1, "nope", T0, event_name="no_such_meter")
    assert unknown.value.param == "event_name"


def test_a_metered_price_bills_the_usage_of_the_period_just_ended_on_the_renewal(emulator: Emulator) -> None:
    sdk = emulator.client
    made = meter(sdk)
    clock, customer = clocked_customer(sdk)
    sdk.v1.products.create(params={"id": "prod_api", "name": "API calls"})
    price = sdk.v1.prices.create(
        params={
            "product": "prod_api",
            "currency": "usd",
            "unit_amount": 2,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": made.id},
        }
    )
    assert (price.recurring.usage_type, price.recurring.meter) == ("metered", made.id)
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id, "quantity": 3}]})
    subscription = sdk.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    first = sdk.v1.invoices.retrieve(subscription.latest_invoice)
    [line] = first.lines.data
    assert (line.quantity, line.amount) == (0, 0)
    end = subscription.current_period_end
    advance(emulator, clock.id, end - 120)  # events may be at most 5 minutes ahead of the clock
    usage(sdk, customer.id, 1_000, "u1", T0 + DAY)
    usage(sdk, customer.id, 234, "u2", end - 60)
    advance(emulator, clock.id, end + 600)
    usage(sdk, customer.id, 99, "next-period", end + 60)  # the period has closed: billed a period later
    renewal = _renewal(emulator, subscription.id)
    [metered] = renewal["lines"]["data"]
    assert (metered["quantity"], metered["amount"]) == (1_234, 2_468)
    assert (metered["period"]["start"], metered["period"]["end"]) == (T0, end)
    assert metered["price"]["recurring"]["usage_type"] == "metered"


def advance(emulator: Emulator, clock_id: str, to: int) -> None:
    emulator.client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    for _ in range(200):
        if emulator.client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "ready":
            return
    raise AssertionError("the clock never got ready")


def _renewal(emulator: Emulator, subscription_id: str) -> dict[str, Any]:
    [found] = [
        i
        for i in emulator.state()["invoices"]
        if i["subscription"] == subscription_id and i["billing_reason"] == "subscription_cycle"
    ]
    return found
