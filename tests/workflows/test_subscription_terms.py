"""The lifecycle's rules for CRM changes and the prorated credit: pure functions, checked without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from canonical import Amendment, AmendmentKind, AmendmentLine, DealLine, Money
from canonical.contract import term_end
from tests.support.factories import make_deal, usd
from workflows.subscription_messages import PeriodState, PeriodStatus
from workflows.subscription_terms import Position, Refused, amended_lines, check, unused_credit

SEATS = DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=usd(49_00))
START = datetime(2026, 12, 1, 10, tzinfo=UTC)
END = datetime(2027, 1, 1, 10, tzinfo=UTC)


def change(
    kind: AmendmentKind = AmendmentKind.AMENDMENT,
    *lines: tuple[str, int, int],
    deal_id: str = "006AMEND",
    effective: date = date(2026, 12, 16),
    currency: str = "USD",
    modified: datetime = datetime(2026, 12, 15, tzinfo=UTC),
    term_months: int | None = None,
) -> Amendment:
    return Amendment(
        crm="salesforce",
        deal_id=deal_id,
        contract_id="800C",
        original_deal_id="006TEST",
        kind=kind,
        effective_date=effective,
        currency=currency,
        lines=[
            AmendmentLine(product_code=code, quantity_change=q, unit_price=Money(amount=p, currency=currency))
            for code, q, p in lines
        ],
        term_months=term_months,
        modified_at=modified,
    )


def position(**changes: object) -> Position:
    values: dict[str, object] = {
        "currency": "USD",
        "lines": [SEATS],
        "period_start": START,
        "next_start": END,
        "term_end": datetime(2027, 11, 27, tzinfo=UTC),
        "ended": False,
        "last_modified": None,
    }
    values.update(changes)
    return Position(**values)  # type: ignore[arg-type]


def test_an_upsell_adds_seats_and_a_new_product_after_the_existing_lines() -> None:
    lines = check(change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", 3, 49_00), ("ANALYTICS", 1, 199_00)), position())
    assert [(line.product_code, line.quantity, line.unit_price.amount) for line in lines] == [
        ("PLAT-SEAT", 13, 49_00),
        ("ANALYTICS", 1, 199_00),
    ]


def test_a_reduction_to_zero_removes_the_line_and_a_new_price_applies_to_the_whole_line() -> None:
    lines = amended_lines(
        [SEATS, DealLine(product_code="ANALYTICS", quantity=1, unit_price=usd(199_00))],
        change(AmendmentKind.AMENDMENT, ("ANALYTICS", -1, 199_00), ("PLAT-SEAT", -2, 45_00)),
    )
    assert [(line.product_code, line.quantity, line.unit_price.amount) for line in lines] == [("PLAT-SEAT", 8, 45_00)]


@pytest.mark.parametrize(
    ("amendment", "at", "rule"),
    [
        (change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", -11, 49_00)), position(), "quantity_below_zero"),
        (change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", -10, 49_00)), position(), "removes_every_line"),
        (change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", 1, 49), currency="EUR"), position(), "currency_change"),
        (
            change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", 1, 49_00), effective=date(2026, 11, 30)),
            position(),
            "effective_before_invoiced_period",
        ),
        (change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", 1, 49_00)), position(ended=True), "contract_ended"),
        (change(AmendmentKind.CANCELLATION), position(ended=True), "contract_ended"),
        (
            change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", 1, 49_00)),
            position(last_modified=datetime(2026, 12, 15, 1, tzinfo=UTC)),
            "stale_amendment",
        ),
        (change(AmendmentKind.AMENDMENT, ("NOPE", 1, 49_00)), position(), "unknown_product"),
        # 10 seats to 1 on the period's second day: the credit for 9 seats' month outweighs 1 seat's next month
        (
            change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", -9, 49_00), effective=date(2026, 12, 2)),
            position(),
            "credit_exceeds_next_invoice",
        ),
        (
            change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", 1, 49_00), effective=date(2028, 1, 1)),
            position(),
            "effective_after_term",
        ),
    ],
)
def test_a_change_that_breaks_a_rule_is_refused_naming_it(amendment: Amendment, at: Position, rule: str) -> None:
    with pytest.raises(Refused) as refused:
        check(amendment, at)
    assert refused.value.rule == rule
    assert amendment.deal_id in refused.value.message


def test_a_renewal_keeps_the_lines_and_a_cancellation_ends_them() -> None:
    assert check(change(AmendmentKind.RENEWAL, term_months=12, effective=date(2027, 11, 27)), position()) == [SEATS]
    assert check(change(AmendmentKind.CANCELLATION), position()) == []


def test_term_end_is_midnight_utc_months_after_the_start_with_month_ends_clamped() -> None:
    assert term_end(date(2026, 1, 31), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert term_end(date(2026, 11, 27), 12) == datetime(2027, 11, 27, tzinfo=UTC)


def billed_period() -> PeriodStatus:
    period = PeriodStatus(
        number=3,
        start=START,
        end=END,
        state=PeriodState.BILLED,
        trigger="webhook",
        lines=[SEATS],
        totals={"subtotal": 490_00, "tax": 35_53, "total": 525_53},
    )
    period.ids["invoice"] = "in_3"
    return period


def test_the_unused_credit_prorates_each_line_by_the_second_and_its_tax_by_the_same_share() -> None:
    halfway = START + (END - START) / 2
    credit = unused_credit(billed_period(), halfway, make_deal(), "G-1", "cancelled")
    assert credit is not None
    assert credit.invoice_id == "in_3"
    assert [line.amount.amount for line in credit.lines] == [245_00]
    assert credit.tax.amount == 17_76  # 35_53 / 2 = 17_76.5, half-even
    assert credit.total.amount == 262_76
    whole = unused_credit(billed_period(), START, make_deal(), "G-1", "cancelled")
    assert whole is not None
    assert whole.total.amount == 525_53
    assert unused_credit(billed_period(), END, make_deal(), "G-1", "cancelled") is None


def test_a_reduction_late_in_the_period_nets_a_positive_next_invoice() -> None:
    late = change(AmendmentKind.AMENDMENT, ("PLAT-SEAT", -9, 49_00), effective=date(2026, 12, 31))
    assert [line.quantity for line in check(late, position())] == [1]
