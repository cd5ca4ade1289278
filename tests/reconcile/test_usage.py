"""Usage reported vs usage billed: what c2c accepted and reported matches the metered lines of billing's invoices
period by period, and each planted break is found once — usage billed twice, usage lost on the way to the meter, an
event reported into a period no invoice billed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from canonical.records import BilledUsage, BillingInvoice, BillingSubscription
from canonical.usage import AcceptedUsage
from reconcile.findings import MismatchKind
from reconcile.usage import usage_findings

P1, P2, P3 = (datetime(2026, month, 6, tzinfo=UTC) for month in (1, 2, 3))
NOW = datetime(2026, 3, 10, tzinfo=UTC)
SUBSCRIPTION = BillingSubscription(
    subscription_id="sub_1", deal_id="D-U", customer_id="cus_1", status="active", created=P1 - timedelta(days=31)
)


def event(event_id: str, quantity: int, at: datetime, billed_from: datetime | None = None) -> AcceptedUsage:
    return AcceptedUsage(
        event_id=event_id,
        deal_id="D-U",
        quantity=quantity,
        occurred_at=at,
        received_at=at,
        billed_from=billed_from or at,
    )


def invoice(invoice_id: str, quantity: int, start: datetime, end: datetime) -> BillingInvoice:
    return BillingInvoice(
        invoice_id=invoice_id,
        subscription_id="sub_1",
        customer_id="cus_1",
        status="paid",
        currency="USD",
        total=quantity * 2,
        tax=0,
        amount_paid=quantity * 2,
        created=end,
        billing_reason="subscription_cycle",
        usage=[BilledUsage(product_code="API-CALLS", quantity=quantity, period_start=start, period_end=end)],
    )


EVENTS = [
    event("a", 100, P1 + timedelta(days=3)),
    event("b", 23, P1 + timedelta(days=9)),
    # late: consumed in period 1, reached the meter after it closed, billed from period 2's start
    event("late", 7, P2 - timedelta(hours=1), billed_from=P2),
    event("c", 5, P2 + timedelta(days=2)),
]
INVOICES = [invoice("in_2", 123, P1, P2), invoice("in_3", 12, P2, P3)]


def findings(events: list[AcceptedUsage], invoices: list[BillingInvoice]) -> list[tuple[MismatchKind, str]]:
    found = usage_findings(events, invoices, [SUBSCRIPTION], now=NOW)
    return [(m.kind, m.invoice_id or m.expected) for m in found]


def test_usage_reported_and_billed_period_by_period_agrees() -> None:
    assert findings(EVENTS, INVOICES) == []


def test_usage_billed_twice_is_found_on_its_invoice() -> None:
    doubled = [invoice("in_2", 246, P1, P2), INVOICES[1]]
    assert findings(EVENTS, doubled) == [(MismatchKind.USAGE_BILLED_DIFFERS, "in_2")]


def test_usage_never_reported_to_billing_is_unbilled() -> None:
    lost = [*EVENTS[:3], event("c", 5, P2 + timedelta(days=2)).model_copy(update={"billed_from": None})]
    found = usage_findings(lost, INVOICES, [SUBSCRIPTION], now=NOW)
    assert [(m.kind, m.found) for m in found] == [
        (MismatchKind.USAGE_BILLED_DIFFERS, "12 units billed"),
        (MismatchKind.USAGE_UNBILLED, "not reported to billing"),
    ]


def test_usage_in_a_period_no_invoice_billed_is_unbilled() -> None:
    missing_period = [INVOICES[1]]  # period 1's invoice is gone (voided, or never made)
    found = usage_findings(EVENTS, missing_period, [SUBSCRIPTION], now=NOW)
    assert sorted((m.kind, m.subject, m.found) for m in found) == [
        (MismatchKind.USAGE_UNBILLED, "D-U", "in no billed period"),
        (MismatchKind.USAGE_UNBILLED, "D-U", "in no billed period"),
    ]


def test_usage_still_in_the_open_period_is_not_a_finding() -> None:
    open_now = [*EVENTS, event("d", 9, P3 + timedelta(days=1))]
    assert findings(open_now, INVOICES) == []
