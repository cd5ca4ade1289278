"""Which Stripe events start a later billing period (the webhook's renewal parser)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.stripe.webhooks import renewal_invoice_id


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
