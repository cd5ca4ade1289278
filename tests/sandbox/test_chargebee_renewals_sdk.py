"""The Chargebee emulator's time machine, renewals and subscription changes through Chargebee's official Python SDK:
a subscription renews when the site travels past its term (a pending recurring invoice, `subscription_renewed`),
an upsell made with `update_for_items` is prorated on the next renewal invoice (or invoiced at once), and the
billing cycles end the subscription with its term."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import chargebee as cb
from tests.support.chargebee import fresh_site  # noqa: F401 - the fixture `url`
from tests.support.sdk import vendor_sdk

chargebee = vendor_sdk("chargebee")

GENESIS = 1_893_456_000  # 2030-01-01T00:00:00Z
DAY = 86_400


@pytest.fixture
def api(url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = cb.sdk(url, monkeypatch)
    machine = client.TimeMachine.start_afresh("delorean", {"genesis_time": GENESIS}).time_machine
    assert (machine.name, machine.time_travel_status, machine.genesis_time) == ("delorean", "succeeded", GENESIS)
    return client


def subscription(api: Any, cycles: int = 12, seats: int = 10) -> tuple[Any, str, str]:
    api.ItemFamily.create({"id": "c2c", "name": "c2c"})
    api.Item.create({"id": "base", "name": "Base", "type": "plan", "item_family_id": "c2c"})
    api.Item.create({"id": "PLAT-SEAT", "name": "Seat", "type": "addon", "item_family_id": "c2c"})
    for price_id, item_id, price in (("base-gbp", "base", 0), ("seat-gbp", "PLAT-SEAT", 30_00)):
        api.ItemPrice.create(
            {
                "id": price_id,
                "item_id": item_id,
                "name": price_id,
                "pricing_model": "per_unit",
                "price": price,
                "currency_code": "GBP",
                "period": 1,
                "period_unit": "month",
            }
        )
    api.Customer.create(
        {"id": "cust", "company": "Thames Ltd", "payment_method": {"type": "card", "reference_id": "tok_visa"}}
    )
    created = api.Subscription.create_with_items(
        "cust",
        {
            "id": "sub-1",
            "subscription_items": [
                {"item_price_id": "base-gbp", "quantity": 1},
                {"item_price_id": "seat-gbp", "quantity": seats},
            ],
            "billing_cycles": cycles,
            "auto_collection": "off",
            "create_pending_invoices": True,
            "first_invoice_pending": True,
        },
    )
    api.Invoice.close(created.invoice.id)
    return created.subscription, "base-gbp", "seat-gbp"


def travel(api: Any, to: int) -> None:
    machine = api.TimeMachine.travel_forward("delorean", {"destination_time": to}).time_machine
    assert machine.time_travel_status == "succeeded"
    api.TimeMachine.wait_for_time_travel_completion(machine)


def test_a_subscription_renews_when_the_site_travels_past_its_term(api: Any, url: str) -> None:
    sub, _, _ = subscription(api)
    assert sub.started_at >= GENESIS
    assert sub.remaining_billing_cycles == 11
    end = sub.current_term_end
    travel(api, end + 60)

    renewed = api.Subscription.retrieve("sub-1").subscription
    assert (renewed.current_term_start, renewed.remaining_billing_cycles) == (end, 10)
    invoices = api.Invoice.list({"subscription_id": {"is": "sub-1"}, "recurring": {"is": "true"}}).list
    [renewal] = [entry.invoice for entry in invoices if not entry.invoice.first_invoice]
    assert (renewal.status, renewal.recurring, renewal.date) == ("pending", True, end)
    assert {(line.entity_id, line.date_from, line.date_to) for line in renewal.line_items} == {
        ("base-gbp", end, renewed.current_term_end),
        ("seat-gbp", end, renewed.current_term_end),
    }
    assert renewal.total == 10 * 30_00
    events = [e for e in cb.state(url)["events"] if e["occurred_at"] == end]
    assert [e["event_type"] for e in events] == ["subscription_renewed", "pending_invoice_created"]
    assert events[0]["content"]["invoice"]["id"] == renewal.id
    with pytest.raises(chargebee.InvalidRequestError):  # only forward
        api.TimeMachine.travel_forward("delorean", {"destination_time": end})


def test_an_upsell_is_prorated_on_the_next_renewal_invoice(api: Any) -> None:
    sub, base, seat = subscription(api)
    start, end = sub.current_term_start, sub.current_term_end
    travel(api, start + 10 * DAY)
    changed = api.Subscription.update_for_items(
        "sub-1",
        {
            "subscription_items": [{"item_price_id": base, "quantity": 1}, {"item_price_id": seat, "quantity": 15}],
            "replace_items_list": True,
            "prorate": True,
            "invoice_immediately": False,
        },
    )
    assert changed.invoice is None
    [charge] = [entry.unbilled_charge for entry in api.UnbilledCharge.list({"subscription_id": {"is": "sub-1"}}).list]
    left = end - (start + 10 * DAY)
    assert charge.amount == (2 * 5 * 30_00 * left + (end - start)) // (2 * (end - start))
    assert (charge.quantity, charge.date_to) == (5, end)

    travel(api, end + 1)
    invoices = [e.invoice for e in api.Invoice.list({"subscription_id": {"is": "sub-1"}}).list]
    [renewal] = [i for i in invoices if not i.first_invoice]
    prorated = [line for line in renewal.line_items if line.date_to == end]
    assert [(line.entity_id, line.amount) for line in prorated] == [(seat, charge.amount)]
    assert renewal.total == 15 * 30_00 + charge.amount
    assert api.UnbilledCharge.list({"subscription_id": {"is": "sub-1"}}).list == []


def test_an_upsell_invoiced_at_once_and_unbilled_charges_invoiced_on_request(api: Any) -> None:
    _, base, seat = subscription(api)
    items = [{"item_price_id": base, "quantity": 1}, {"item_price_id": seat, "quantity": 12}]
    now = api.Subscription.update_for_items("sub-1", {"subscription_items": items, "invoice_immediately": True})
    assert now.invoice is not None
    assert (now.invoice.status, now.invoice.recurring, now.invoice.first_invoice) == ("pending", True, False)
    assert [line.entity_id for line in now.invoice.line_items] == [seat]

    items[1]["quantity"] = 14
    api.Subscription.update_for_items("sub-1", {"subscription_items": items})
    made = api.UnbilledCharge.invoice_unbilled_charges({"subscription_id": "sub-1"})
    [invoice] = made.invoices
    assert [line.quantity for line in invoice.line_items] == [2]
    assert api.UnbilledCharge.invoice_unbilled_charges({"subscription_id": "sub-1"}).invoices == []


def test_billing_cycles_end_the_subscription_and_more_cycles_renew_it_again(api: Any) -> None:
    sub, _, _ = subscription(api, cycles=2)
    travel(api, sub.current_term_end + 1)
    last = api.Subscription.retrieve("sub-1").subscription
    assert (last.status, last.remaining_billing_cycles, last.cancelled_at) == ("non_renewing", 0, last.current_term_end)
    again = api.Subscription.update_for_items("sub-1", {"billing_cycles": 3}).subscription
    assert (again.status, again.remaining_billing_cycles) == ("active", 2)
    api.Subscription.cancel_for_items("sub-1", {"end_of_term": True})
    travel(api, again.current_term_end + 1)
    ended = api.Subscription.retrieve("sub-1").subscription
    assert (ended.status, ended.cancelled_at) == ("cancelled", again.current_term_end)


def test_bad_changes_are_refused_and_change_nothing(api: Any) -> None:
    subscription(api)
    with pytest.raises(chargebee.InvalidRequestError):
        api.Subscription.update_for_items("nope", {"billing_cycles": 3})
    with pytest.raises(chargebee.InvalidRequestError):  # no plan left
        api.Subscription.update_for_items(
            "sub-1", {"subscription_items": [{"item_price_id": "seat-gbp", "quantity": 2}], "replace_items_list": True}
        )
    assert api.Subscription.retrieve("sub-1").subscription.subscription_items[1].quantity == 10
    assert api.UnbilledCharge.list({"subscription_id": {"is": "sub-1"}}).list == []
