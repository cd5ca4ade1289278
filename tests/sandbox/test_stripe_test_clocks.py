"""Stripe test clocks in the emulator over real HTTP: the clock object, customers and subscriptions living on its
frozen time, advancing (and its limits), renewal invoices period after period, cancellations at period end,
the events in order with the clock's timestamps, deleting a clock, and the official `stripe` SDK against it."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.stripe import verify_event
from sandbox.server import build_app
from tests.support.servers import Serve
from tests.support.stripe_wire import AUTH, SECRET, EventSink, get, post, state

HOUR, DAY = 3_600, 86_400
# Noon UTC on January 31st of a leap year: month-end anchors clamp to Feb 29, then come back to the 31st.
JAN_31 = int(datetime(2024, 1, 31, 12, tzinfo=UTC).timestamp())
SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "stripe-openapi-2020-08-27.json"


def at(year: int, month: int, day: int, hour: int = 12) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


@pytest.fixture
async def url(emulators: Any, http: httpx.AsyncClient) -> str:
    base: str = emulators.url("stripe")
    (await http.post(f"{base}/_sandbox/reset")).raise_for_status()
    (await http.delete(f"{base}/_sandbox/faults")).raise_for_status()
    return base


async def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def new_clock(http: httpx.AsyncClient, url: str, frozen_time: int = JAN_31, **extra: str) -> dict[str, Any]:
    return await ok(await post(http, url, "/v1/test_helpers/test_clocks", {"frozen_time": str(frozen_time), **extra}))


async def advance(http: httpx.AsyncClient, url: str, clock_id: str, frozen_time: int) -> dict[str, Any]:
    """Advance the clock and wait until it is ready again (Stripe's advance is asynchronous too)."""
    started = await ok(
        await post(http, url, f"/v1/test_helpers/test_clocks/{clock_id}/advance", {"frozen_time": str(frozen_time)})
    )
    assert started["status"] == "advancing"
    for _ in range(200):
        clock = await ok(await get(http, url, f"/v1/test_helpers/test_clocks/{clock_id}"))
        if clock["status"] == "ready":
            assert clock["frozen_time"] == frozen_time
            return clock
        await asyncio.sleep(0.02)
    raise AssertionError(f"clock {clock_id} still advancing")


async def subscribe(
    http: httpx.AsyncClient,
    url: str,
    clock_id: str | None,
    *,
    unit_amount: int = 4_900,
    quantity: int = 3,
    interval: str = "month",
    **extra: str,
) -> dict[str, Any]:
    """A customer paying by card (on the clock, if any) with a subscription to one recurring price."""
    on_clock = {"test_clock": clock_id} if clock_id else {}
    card = {"invoice_settings[default_payment_method]": "pm_card_visa"}
    customer = await ok(await post(http, url, "/v1/customers", {"name": "Acme", **card, **on_clock}))
    product = await ok(await post(http, url, "/v1/products", {"name": "Seat"}))
    price = {
        "product": product["id"],
        "currency": "usd",
        "unit_amount": str(unit_amount),
        "recurring[interval]": interval,
    }
    price_id = (await ok(await post(http, url, "/v1/prices", price)))["id"]
    items = {"items[0][price]": price_id, "items[0][quantity]": str(quantity)}
    return await ok(await post(http, url, "/v1/subscriptions", {"customer": customer["id"], **items, **extra}))


async def invoices_of(http: httpx.AsyncClient, url: str, subscription_id: str) -> list[dict[str, Any]]:
    """Oldest first."""
    listed = await ok(await get(http, url, "/v1/invoices", params={"subscription": subscription_id, "limit": "100"}))
    return list(reversed(listed["data"]))


async def events_since(http: httpx.AsyncClient, url: str, first_type: str) -> list[dict[str, Any]]:
    """Every event from the last one of `first_type` on, in emission order."""
    events: list[dict[str, Any]] = (await state(http, url))["events"]
    start = max(i for i, e in enumerate(events) if e["type"] == first_type)
    return events[start:]


# -- the clock object -----------------------------------------------------------------------------------------------


async def test_a_clock_is_created_retrieved_listed_and_deleted_in_stripes_shape(
    http: httpx.AsyncClient, url: str
) -> None:
    before = int(time.time())
    clock = await new_clock(http, url, name="renewals")

    assert clock["id"].startswith("clock_")
    assert set(clock) == {"id", "object", "created", "deletes_after", "frozen_time", "livemode", "name", "status"}
    assert (clock["object"], clock["frozen_time"], clock["name"], clock["status"]) == (
        "test_helpers.test_clock",
        JAN_31,
        "renewals",
        "ready",
    )
    assert clock["livemode"] is False
    assert before <= clock["created"] <= int(time.time())  # the clock itself is created in wall time
    assert clock["deletes_after"] == clock["created"] + 7 * DAY
    assert await ok(await get(http, url, f"/v1/test_helpers/test_clocks/{clock['id']}")) == clock
    if SPEC_PATH.exists():
        schema = json.loads(SPEC_PATH.read_text())["components"]["schemas"]["test_helpers.test_clock"]
        assert set(clock) <= set(schema["properties"])
        assert set(schema["required"]) <= set(clock)

    other = await new_clock(http, url)
    first = await ok(await get(http, url, "/v1/test_helpers/test_clocks", params={"limit": "1"}))
    assert (first["url"], [c["id"] for c in first["data"]], first["has_more"]) == (
        "/v1/test_helpers/test_clocks",
        [other["id"]],
        True,
    )
    params = {"starting_after": other["id"]}
    rest = await ok(await get(http, url, "/v1/test_helpers/test_clocks", params=params))
    assert ([c["id"] for c in rest["data"]], rest["has_more"]) == ([clock["id"]], False)

    deleted = await http.delete(f"{url}/v1/test_helpers/test_clocks/{clock['id']}", headers=AUTH)
    assert await ok(deleted) == {"id": clock["id"], "object": "test_helpers.test_clock", "deleted": True}
    missing = await get(http, url, f"/v1/test_helpers/test_clocks/{clock['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    created = [e for e in (await state(http, url))["events"] if e["type"] == "test_helpers.test_clock.created"]
    assert [e["created"] for e in created] == [JAN_31, JAN_31]


async def test_a_customer_on_a_clock_and_its_subscription_live_on_the_clocks_time(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)

    subscription = await subscribe(http, url, clock["id"])

    customer = await ok(await get(http, url, f"/v1/customers/{subscription['customer']}"))
    assert (customer["test_clock"], customer["created"]) == (clock["id"], JAN_31)
    assert subscription["test_clock"] == clock["id"]
    for name in ("created", "start_date", "billing_cycle_anchor", "current_period_start"):
        assert subscription[name] == JAN_31, name
    assert subscription["current_period_end"] == at(2024, 2, 29)
    (first,) = await invoices_of(http, url, subscription["id"])
    assert (first["billing_reason"], first["status"], first["created"], first["test_clock"]) == (
        "subscription_create",
        "paid",
        JAN_31,
        clock["id"],
    )
    assert first["status_transitions"]["paid_at"] == JAN_31
    # Off the clock nothing changes: wall time, no test clock.
    plain = await subscribe(http, url, None)
    assert plain["test_clock"] is None
    assert abs(plain["created"] - time.time()) < 60


# -- renewals -------------------------------------------------------------------------------------------------------


async def test_a_year_on_the_clock_bills_twelve_contiguous_periods_with_month_ends_clamped(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)
    subscription = await subscribe(http, url, clock["id"])
    ends = [at(2024, 2, 29), at(2024, 3, 31), at(2024, 4, 30), at(2024, 5, 31), at(2024, 6, 30), at(2024, 7, 31)]
    ends += [at(2024, 8, 31), at(2024, 9, 30), at(2024, 10, 31), at(2024, 11, 30), at(2024, 12, 31), at(2025, 1, 31)]
    # A pending invoice item for the subscription (a proration, say) goes onto the next renewal invoice.
    item = {"customer": subscription["customer"], "subscription": subscription["id"], "currency": "usd"}
    await ok(await post(http, url, "/v1/invoiceitems", {**item, "amount": "-1200", "description": "Proration"}))

    for boundary in ends[:11]:
        await advance(http, url, clock["id"], boundary + 2 * HOUR)  # past the renewal and its finalization
    await advance(http, url, clock["id"], ends[11] - HOUR)  # the last day of the twelfth month

    invoices = await invoices_of(http, url, subscription["id"])
    assert [i["billing_reason"] for i in invoices] == ["subscription_create"] + ["subscription_cycle"] * 11
    periods = [(i["lines"]["data"][0]["period"]["start"], i["lines"]["data"][0]["period"]["end"]) for i in invoices]
    assert periods == list(zip([JAN_31, *ends[:11]], ends, strict=True))  # contiguous, never overlapping
    assert [i["created"] for i in invoices] == [JAN_31, *ends[:11]]
    assert [i["amount_paid"] for i in invoices] == [14_700, 14_700 - 1_200] + [14_700] * 10
    assert all(i["status"] == "paid" for i in invoices)
    assert [i["status_transitions"]["finalized_at"] for i in invoices[1:]] == [end + HOUR for end in ends[:11]]
    proration = [line for line in invoices[1]["lines"]["data"] if line["type"] == "invoiceitem"]
    assert [(line["amount"], line["description"]) for line in proration] == [(-1_200, "Proration")]
    # A cycle invoice's own period is the one just ended, as at Stripe.
    assert (invoices[1]["period_start"], invoices[1]["period_end"]) == (JAN_31, ends[0])
    line = invoices[5]["lines"]["data"][0]
    assert (line["type"], line["quantity"], line["amount"], line["proration"]) == ("subscription", 3, 14_700, False)

    renewed = await ok(await get(http, url, f"/v1/subscriptions/{subscription['id']}"))
    assert (renewed["current_period_start"], renewed["current_period_end"]) == (ends[10], ends[11])
    assert (renewed["billing_cycle_anchor"], renewed["status"]) == (JAN_31, "active")
    assert renewed["latest_invoice"] == invoices[-1]["id"]


async def test_a_renewal_emits_stripes_events_in_order_stamped_with_the_clocks_time(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)
    subscription = await subscribe(http, url, clock["id"])
    period_end = subscription["current_period_end"]

    await advance(http, url, clock["id"], period_end + 2 * HOUR)

    events = await events_since(http, url, "test_helpers.test_clock.advancing")
    assert [(e["type"], e["created"]) for e in events] == [
        ("test_helpers.test_clock.advancing", JAN_31),
        ("customer.subscription.updated", period_end),
        ("invoice.created", period_end),
        ("invoice.finalized", period_end + HOUR),
        ("charge.succeeded", period_end + HOUR),
        ("payment_intent.succeeded", period_end + HOUR),
        ("invoice.paid", period_end + HOUR),
        ("invoice.payment_succeeded", period_end + HOUR),
        ("test_helpers.test_clock.ready", period_end + 2 * HOUR),
    ]
    updated = events[1]["data"]
    assert updated["object"]["current_period_start"] == period_end
    assert updated["previous_attributes"]["current_period_start"] == JAN_31
    assert updated["previous_attributes"]["current_period_end"] == period_end
    created = events[2]["data"]["object"]
    assert (created["status"], created["billing_reason"], created["auto_advance"]) == (
        "draft",
        "subscription_cycle",
        True,
    )
    assert all(e["request"]["id"] is None for e in events[1:])  # Stripe acting on its own
    assert events[0]["data"]["object"]["status"] == "advancing"
    assert events[-1]["data"]["object"]["status"] == "ready"


async def test_an_advance_stopping_within_the_hour_leaves_the_renewal_a_draft_until_the_next_one(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)
    subscription = await subscribe(http, url, clock["id"])
    period_end = subscription["current_period_end"]

    await advance(http, url, clock["id"], period_end + 10 * 60)
    renewal = (await invoices_of(http, url, subscription["id"]))[-1]
    assert (renewal["billing_reason"], renewal["status"]) == ("subscription_cycle", "draft")

    await advance(http, url, clock["id"], period_end + HOUR)
    renewal = await ok(await get(http, url, f"/v1/invoices/{renewal['id']}"))
    assert (renewal["status"], renewal["status_transitions"]["finalized_at"]) == ("paid", period_end + HOUR)


async def test_a_send_invoice_renewal_is_finalized_and_sent_due_days_after_finalization(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)
    subscription = await subscribe(
        http, url, clock["id"], collection_method="send_invoice", days_until_due="14", interval="year"
    )
    period_end = subscription["current_period_end"]
    assert period_end == at(2025, 1, 31)

    await advance(http, url, clock["id"], period_end + DAY)

    first, renewal = await invoices_of(http, url, subscription["id"])
    assert first["status"] == "open"  # the first draft, auto_advance true, was finalized an hour in, too
    assert first["status_transitions"]["finalized_at"] == JAN_31 + HOUR
    assert first["due_date"] == JAN_31 + HOUR + 14 * DAY
    assert (renewal["billing_reason"], renewal["status"], renewal["amount_due"]) == (
        "subscription_cycle",
        "open",
        14_700,
    )
    assert renewal["status_transitions"]["finalized_at"] == period_end + HOUR
    assert renewal["due_date"] == period_end + HOUR + 14 * DAY
    assert renewal["attempt_count"] == 0  # nothing charged: the customer pays it
    sent = [e for e in (await state(http, url))["events"] if e["type"] == "invoice.sent"]
    assert [e["data"]["object"]["id"] for e in sent] == [first["id"], renewal["id"]]


async def test_a_declined_renewal_makes_the_subscription_past_due(http: httpx.AsyncClient, url: str) -> None:
    clock = await new_clock(http, url)
    subscription = await subscribe(http, url, clock["id"])
    declining = {"invoice_settings[default_payment_method]": "pm_card_chargeDeclined"}
    await ok(await post(http, url, f"/v1/customers/{subscription['customer']}", declining))

    await advance(http, url, clock["id"], subscription["current_period_end"] + 2 * HOUR)

    renewal = (await invoices_of(http, url, subscription["id"]))[-1]
    assert (renewal["status"], renewal["attempt_count"]) == ("open", 1)
    assert (await ok(await get(http, url, f"/v1/subscriptions/{subscription['id']}")))["status"] == "past_due"
    types = [e["type"] for e in await events_since(http, url, "test_helpers.test_clock.advancing")]
    assert types[-3:] == ["invoice.payment_failed", "customer.subscription.updated", "test_helpers.test_clock.ready"]


async def test_cancel_at_period_end_and_cancel_at_end_the_subscription_instead_of_renewing(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)
    at_end = await subscribe(http, url, clock["id"], cancel_at_period_end="true")
    cancel_at = JAN_31 + 10 * DAY
    mid_period = await subscribe(http, url, clock["id"], cancel_at=str(cancel_at))
    period_end = at_end["current_period_end"]

    await advance(http, url, clock["id"], period_end + 2 * HOUR)
    await advance(http, url, clock["id"], at(2024, 4, 15))

    for subscription, ended in ((at_end, period_end), (mid_period, cancel_at)):
        current = await ok(await get(http, url, f"/v1/subscriptions/{subscription['id']}"))
        assert (current["status"], current["ended_at"]) == ("canceled", ended)
        assert [i["billing_reason"] for i in await invoices_of(http, url, subscription["id"])] == [
            "subscription_create"
        ]
    deleted = [e for e in (await state(http, url))["events"] if e["type"] == "customer.subscription.deleted"]
    assert [(e["data"]["object"]["id"], e["created"]) for e in deleted] == [
        (mid_period["id"], cancel_at),
        (at_end["id"], period_end),
    ]


# -- advancing: its limits ------------------------------------------------------------------------------------------


async def test_advancing_backwards_or_too_far_is_refused_as_stripe_refuses_it(
    http: httpx.AsyncClient, url: str
) -> None:
    empty = await new_clock(http, url)
    clock = await new_clock(http, url)
    await subscribe(http, url, clock["id"])  # monthly: at most two months at a time
    await subscribe(http, url, clock["id"], interval="year")

    async def refused(clock_id: str, frozen_time: int) -> dict[str, Any]:
        path = f"/v1/test_helpers/test_clocks/{clock_id}/advance"
        response = await post(http, url, path, {"frozen_time": str(frozen_time)})
        assert response.status_code == 400, response.text
        error: dict[str, Any] = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", "frozen_time")
        return error

    await refused(clock["id"], JAN_31)
    await refused(clock["id"], JAN_31 - DAY)
    assert "two intervals" in (await refused(clock["id"], at(2024, 3, 31) + 1))["message"]
    await refused(empty["id"], at(2026, 1, 31) + 1)  # no subscriptions: two years
    missing = await post(http, url, f"/v1/test_helpers/test_clocks/{clock['id']}/advance")
    assert missing.json()["error"]["code"] == "parameter_missing"
    unknown = await post(http, url, "/v1/test_helpers/test_clocks/clock_nope/advance", {"frozen_time": "1"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "resource_missing")
    assert (await ok(await get(http, url, f"/v1/test_helpers/test_clocks/{clock['id']}")))["frozen_time"] == JAN_31

    await advance(http, url, clock["id"], at(2024, 3, 31))  # exactly two months: allowed
    await advance(http, url, empty["id"], at(2026, 1, 31))


# -- deleting a clock -----------------------------------------------------------------------------------------------


async def test_deleting_a_clock_deletes_its_customers_and_their_subscriptions(
    http: httpx.AsyncClient, url: str
) -> None:
    clock = await new_clock(http, url)
    subscription = await subscribe(http, url, clock["id"])
    elsewhere = await subscribe(http, url, None)

    await ok(await http.delete(f"{url}/v1/test_helpers/test_clocks/{clock['id']}", headers=AUTH))

    for path in (f"/v1/customers/{subscription['customer']}", f"/v1/subscriptions/{subscription['id']}"):
        assert (await get(http, url, path)).status_code == 404, path
    assert await invoices_of(http, url, subscription["id"]) == []
    assert (await get(http, url, f"/v1/subscriptions/{elsewhere['id']}")).status_code == 200
    assert (await state(http, url))["events"][-1]["type"] == "test_helpers.test_clock.deleted"


# -- webhooks and the official SDK ----------------------------------------------------------------------------------


async def test_renewal_events_are_delivered_as_signed_webhooks(http: httpx.AsyncClient, own_server: Serve) -> None:
    sink = EventSink()
    hook_url = f"{own_server(sink.app).url}/hooks"
    url = own_server(build_app("stripe", webhook_url=hook_url, webhook_secret=SECRET)).url
    clock = await new_clock(http, url)
    subscription = await subscribe(http, url, clock["id"])

    await advance(http, url, clock["id"], subscription["current_period_end"] + 2 * HOUR)

    delivered = await sink.wait_for("invoice.created", "invoice.finalized", "test_helpers.test_clock.ready")
    events = {e["type"]: e for e in (verify_event(p, s, SECRET) for p, s in delivered)}
    assert events["invoice.created"]["created"] == subscription["current_period_end"]
    assert events["invoice.finalized"]["created"] == subscription["current_period_end"] + HOUR
    assert events["invoice.finalized"]["data"]["object"]["billing_reason"] == "subscription_cycle"


async def test_the_official_stripe_sdk_creates_advances_and_retrieves_a_clock(url: str) -> None:
    stripe = pytest.importorskip("stripe")
    saved = (stripe.api_base, stripe.api_key)
    stripe.api_base, stripe.api_key = url, "sk_test_sandbox"
    try:
        created = await asyncio.to_thread(stripe.test_helpers.TestClock.create, frozen_time=JAN_31, name="sdk")
        assert isinstance(created, stripe.test_helpers.TestClock)
        assert (created.object, created.frozen_time, created.status) == ("test_helpers.test_clock", JAN_31, "ready")
        started = await asyncio.to_thread(stripe.test_helpers.TestClock.advance, created.id, frozen_time=JAN_31 + DAY)
        assert started.status == "advancing"
        for _ in range(200):
            clock = await asyncio.to_thread(stripe.test_helpers.TestClock.retrieve, created.id)
            if clock.status == "ready":
                break
            await asyncio.sleep(0.02)
        assert (clock.status, clock.frozen_time, clock.name) == ("ready", JAN_31 + DAY, "sdk")
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await asyncio.to_thread(stripe.test_helpers.TestClock.advance, created.id, frozen_time=JAN_31)
        assert refused.value.param == "frozen_time"
    finally:
        stripe.api_base, stripe.api_key = saved
