"""Which Stripe events start a later billing period or end a subscription (the webhook's subscription parsers)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.stripe.webhooks import ended_subscription_id, renewal_invoice_id


def event(kind: str, reason: str | None, **obj: Any) -> dict[str, Any]:
    invoice = {"object": "invoice", "id": "in_1", "billing_reason": reason, **obj}
    return {"id": "evt_1", "type": kind, "created": 1, "data": {"object": invoice}}


@pytest.mark.parametrize("kind", ["invoice.created", "invoice.finalized"])
def test_a_subscription_cycle_invoice_event_names_its_invoice(kind: str) -> None:
    assert renewal_invoice_id(event(kind, "subscription_cycle")) == "in_1"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("invoice.created", "subscription_create"), ("invoice.paid", "subscription_cycle"), ("invoice.created", None)],
)
def test_other_invoice_events_are_not_renewals(kind: str, reason: str | None) -> None:
    assert renewal_invoice_id(event(kind, reason)) is None


def test_a_renewal_event_without_an_invoice_id_is_refused() -> None:
    with pytest.raises(ValueError, match="no invoice with an id"):
        renewal_invoice_id(event("invoice.created", "subscription_cycle", id=""))


def ended(obj: Any, event_id: Any = "evt_2") -> dict[str, Any]:
    return {"id": event_id, "type": "customer.subscription.deleted", "created": 1, "data": {"object": obj}}


def test_a_deleted_subscription_event_names_its_subscription() -> None:
    assert ended_subscription_id(ended({"object": "subscription", "id": "sub_1"})) == "sub_1"
    assert ended_subscription_id(event("invoice.created", "subscription_cycle")) is None


@pytest.mark.parametrize(
    ("obj", "event_id"),
    [
        ({"object": "subscription", "id": ""}, "evt_2"),
        ({"object": "subscription"}, "evt_2"),
        ({"object": "invoice", "id": "in_1"}, "evt_2"),
        ("sub_1", "evt_2"),
        ({"object": "subscription", "id": "sub_1"}, ""),
        ({"object": "subscription", "id": "sub_1"}, None),
        ({"object": "subscription", "id": "sub_1"}, "x" * 256),
    ],
)
def test_a_malformed_deleted_subscription_event_is_refused_naming_it(obj: Any, event_id: Any) -> None:
    with pytest.raises(ValueError, match="customer.subscription.deleted"):
        ended_subscription_id(ended(obj, event_id))
