"""Billing Meters (`/v1/billing/meters`, `/v1/billing/meter_events`, `.../event_summaries`): usage reported as
events and summed per customer and period, which metered prices bill on the renewal invoice (see `subscriptions`).

As Stripe documents: a meter has a unique `event_name`, `default_aggregation.formula` (`sum` or `count`), a
`customer_mapping` (`by_id` on `event_payload_key`, default `stripe_customer_id`) and `value_settings`
(`event_payload_key`, default `value`); a meter event names the meter's event name, carries the payload (values
as strings), an optional `identifier` (generated when absent; a second event with an identifier seen in the last
24 hours is refused) and an optional `timestamp` (within the past 35 days or up to 5 minutes ahead, on the clock of
the customer's test clock if it has one). Summaries sum the events with `start_time <= timestamp < end_time`.

Departures (docs/sandbox.md): events are aggregated at once (Stripe is eventually consistent); a duplicate
identifier is refused synchronously with `resource_already_exists` (Stripe's exact wording is not documented); an
unknown customer or meter is refused at once (Stripe reports those asynchronously as meter error reports); no
`value_grouping_window`, no `last` formula, no meter event adjustments or streams.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.stripe.errors import InvalidParams, invalid
from sandbox.stripe.listing import PAGING, page
from sandbox.stripe.state import Call, StripeState, frozen_at, list_object, now

METER_CREATE = frozenset(
    {"display_name", "event_name", "default_aggregation", "customer_mapping", "value_settings", "event_time_window"}
)
METER_LIST = PAGING | {"status"}
METER_EVENT_CREATE = frozenset({"event_name", "payload", "identifier", "timestamp"})
EVENT_SUMMARY_LIST = PAGING | {"customer", "start_time", "end_time", "value_grouping_window"}

IDENTIFIER_WINDOW = 24 * 3_600
PAST_LIMIT = 35 * 86_400
FUTURE_LIMIT = 5 * 60


def create_meter(call: Call) -> dict[str, Any]:
    state, params = call.state, call.params
    display_name = params.req("display_name")
    event_name = params.req("event_name")
    aggregation = params.obj("default_aggregation", frozenset({"formula"}))
    if aggregation is None:
        raise InvalidParams(
            "Missing required param: default_aggregation.", param="default_aggregation", code="parameter_missing"
        )
    formula = aggregation.req("formula", choices=("sum", "count"))
    mapping = params.obj("customer_mapping", frozenset({"event_payload_key", "type"}))
    customer_key = (mapping.req("event_payload_key") if mapping else None) or "stripe_customer_id"
    if mapping is not None:
        mapping.req("type", choices=("by_id",))
    values = params.obj("value_settings", frozenset({"event_payload_key"}))
    value_key = (values.req("event_payload_key") if values else None) or "value"
    window = params.text("event_time_window", choices=("day", "hour"))
    if any(m["event_name"] == event_name for m in state.objects["billing_meters"].values()):
        raise invalid(
            f"A meter with event_name '{event_name}' already exists; an event name can only be used by one meter.",
            code="resource_already_exists",
            param="event_name",
        )
    created = now()
    meter = {
        "id": state.new_id("mtr"),
        "object": "billing.meter",
        "created": created,
        "customer_mapping": {"event_payload_key": customer_key, "type": "by_id"},
        "default_aggregation": {"formula": formula},
        "display_name": display_name,
        "event_name": event_name,
        "event_time_window": window,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": created,
        "value_settings": {"event_payload_key": value_key},
        "_events": [],  # {identifier, customer, value (Decimal), timestamp, created}
    }
    return state.add("billing_meters", meter)


def get_meter(call: Call, meter_id: str) -> dict[str, Any]:
    return call.state.get("billing_meters", meter_id)


def list_meters(call: Call) -> dict[str, Any]:
    """Newest first, filtered by `status` (active / inactive), paged like every list."""
    status = call.params.text("status", choices=("active", "inactive"))
    found = [m for m in call.state.objects["billing_meters"].values() if status in (None, m["status"])]
    return page(call, "billing_meters", found, "/v1/billing/meters")


def meter_by_event_name(state: StripeState, event_name: str) -> dict[str, Any] | None:
    return next((m for m in state.objects["billing_meters"].values() if m["event_name"] == event_name), None)


def _seen(state: StripeState, identifier: str, moment: int) -> bool:
    """An event with this identifier was accepted in the last 24 hours (of the time it was received)."""
    return any(
        event["identifier"] == identifier and moment - event["received"] < IDENTIFIER_WINDOW
        for meter in state.objects["billing_meters"].values()
        for event in meter["_events"]
    )


def create_meter_event(call: Call) -> dict[str, Any]:
    """Record one usage event on the meter of `event_name`, for the customer its payload names."""
    state, params = call.state, call.params
    event_name = params.req("event_name")
    payload = params.obj("payload")
    if payload is None:
        raise InvalidParams("Missing required param: payload.", param="payload", code="parameter_missing")
    identifier = params.text("identifier") or state.new_id("mev")
    timestamp = params.integer("timestamp")
    meter = meter_by_event_name(state, event_name)
    if meter is None or meter["status"] != "active":
        raise invalid(f"No active meter found for event_name '{event_name}'.", param="event_name", code="no_meter")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    customer_id = payload.req(customer_key)
    customer = state.get("customers", customer_id, param=f"payload[{customer_key}]")
    raw_value = payload.text(value_key, required=meter["default_aggregation"]["formula"] == "sum") or "1"
    try:
        value = Decimal(raw_value)
    except InvalidOperation:
        raise InvalidParams(
            f"Invalid payload[{value_key}]: {raw_value!r} is not a number.", param=f"payload[{value_key}]"
        ) from None
    # The customer's test clock, if any, is "now" for the event's time window, as for everything it owns.
    with frozen_at(state.clock_time(customer["id"])):
        received = now()
    moment = received if timestamp is None else timestamp
    if moment > received + FUTURE_LIMIT:
        raise invalid("The timestamp must be at most 5 minutes in the future.", param="timestamp")
    if moment < received - PAST_LIMIT:
        raise invalid("The timestamp must be within the past 35 calendar days.", param="timestamp")
    if _seen(state, identifier, received):
        raise invalid(
            f"A meter event with identifier '{identifier}' already exists: identifiers must be unique "
            "within a rolling 24 hour period.",
            code="resource_already_exists",
            param="identifier",
        )
    meter["_events"].append(
        {
            "identifier": identifier,
            "customer": customer["id"],
            "value": value,
            "timestamp": moment,
            "received": received,
        }
    )
    return {
        "object": "billing.meter_event",
        "created": received,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": {k: v for k, v in payload.values.items() if isinstance(v, str)},
        "timestamp": moment,
    }


def aggregate(meter: dict[str, Any], customer_id: str, start: int, end: int) -> Decimal:
    """The meter's aggregated value for the customer over `start <= timestamp < end`."""
    events = [e for e in meter["_events"] if e["customer"] == customer_id and start <= e["timestamp"] < end]
    if meter["default_aggregation"]["formula"] == "count":
        return Decimal(len(events))
    return sum((e["value"] for e in events), Decimal(0))


def usage_quantity(state: StripeState, meter_id: str, customer_id: str, start: int, end: int) -> int:
    """What a metered price bills for the period: the aggregated usage as a whole quantity (never below 0)."""
    meter = state.objects["billing_meters"].get(meter_id)
    if meter is None:
        return 0
    return max(0, int(aggregate(meter, customer_id, start, end)))


def list_event_summaries(call: Call, meter_id: str) -> dict[str, Any]:
    """One summary for `[start_time, end_time)` (no `value_grouping_window`); both times on minute boundaries."""
    state, params = call.state, call.params
    meter = state.get("billing_meters", meter_id)
    customer_id = params.req("customer")
    start = params.integer("start_time", required=True)
    end = params.integer("end_time", required=True)
    assert start is not None
    assert end is not None
    if params.has("value_grouping_window"):
        raise InvalidParams("value_grouping_window is not supported by this emulator.", param="value_grouping_window")
    for name, moment in (("start_time", start), ("end_time", end)):
        if moment % 60:
            raise InvalidParams(f"{name} must be aligned with minute boundaries.", param=name)
    if end <= start:
        raise InvalidParams("end_time must be after start_time.", param="end_time")
    state.get("customers", customer_id, param="customer")
    value = aggregate(meter, customer_id, start, end)
    summary = {
        "id": f"mtrusg_{meter_id.removeprefix('mtr_')}_{customer_id}_{start}_{end}",
        "object": "billing.meter_event_summary",
        "aggregated_value": float(value),
        "end_time": end,
        "livemode": False,
        "meter": meter_id,
        "start_time": start,
    }
    return list_object([summary], f"/v1/billing/meters/{meter_id}/event_summaries")


def check_metered_price(state: StripeState, recurring: dict[str, Any]) -> None:
    """A metered price names an existing meter (`recurring[meter]`); a licensed one none."""
    meter_id = recurring.get("meter")
    if recurring["usage_type"] == "metered":
        if meter_id is None:
            raise InvalidParams("A metered price needs a meter: pass recurring[meter].", param="recurring[meter]")
        state.get("billing_meters", meter_id, param="recurring[meter]")
    elif meter_id is not None:
        raise InvalidParams(
            "recurring[meter] can only be set when recurring[usage_type] is metered.", param="recurring[meter]"
        )
