"""Revenue schedules: daily-prorated by calendar month, exact in every currency's minor units, re-planned by
prorations and credits; recognition entries and the waterfall."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from canonical import Money
from canonical.reference import REVENUE_ACCOUNTS
from canonical.revenue import (
    RecognitionPattern,
    RevenueLine,
    amount_to_recognize,
    last_day,
    months_between,
    parse_month,
    recognition_entry,
    schedule,
    scheduled_through,
    waterfall,
)
from canonical.rules import deal_problems
from tests.support.factories import make_deal

# One currency per exponent: JPY 0 decimals, EUR 2, KWD 3 (canonical/money.py has BHD and KWD).
CURRENCIES = ["JPY", "EUR", "KWD"]


def line(
    amount: int,
    currency: str,
    start: date,
    end: date,
    *,
    source: str = "in_1#1",
    entity: str = "US01",
    booked_on: date | None = None,
    pattern: RecognitionPattern = RecognitionPattern.RATABLE,
) -> RevenueLine:
    return RevenueLine(
        source_id=source,
        document_id=source.split("#")[0],
        legal_entity=entity,
        amount=Money(amount=amount, currency=currency),
        booked_on=booked_on or start,
        service_start=start,
        service_end=end,
        pattern=pattern,
    )


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(CURRENCIES),
    start=days,
    length=st.integers(min_value=0, max_value=1200),
)
def test_a_schedule_sums_exactly_to_its_line_and_every_month_keeps_its_sign(
    amount: int, currency: str, start: date, length: int
) -> None:
    months = schedule(line(amount, currency, start, start + timedelta(days=length)))

    assert sum(months.values()) == amount
    assert all(value * amount >= 0 for value in months.values())
    assert list(months) == sorted(months)


@given(
    unit=st.integers(min_value=1, max_value=10**9),
    quantity=st.integers(min_value=1, max_value=500),
    currency=st.sampled_from(CURRENCIES),
    start=days,
)
def test_a_12_month_annual_invoice_is_recognized_exactly(unit: int, quantity: int, currency: str, start: date) -> None:
    start = start.replace(day=min(start.day, 28))
    end = start.replace(year=start.year + 1)
    lines = [
        line(unit * quantity, currency, start, end, source="in_1#1"),
        line(unit, currency, start, end, source="in_1#2"),
    ]
    invoice_total = unit * quantity + unit

    recognized = sum(sum(schedule(each).values()) for each in lines)

    assert recognized == invoice_total
    # Twelve calendar months when the year starts on the 1st, thirteen (two part months) otherwise.
    assert len(schedule(lines[0])) == (12 if start.day == 1 else 13)


def test_daily_proration_by_calendar_month_with_the_remainder_in_the_last_month() -> None:
    # KWD 100.000 over 2025-01-15 .. 2025-04-15 (90 days: 17 in January, 28, 31, 14 in April).
    months = schedule(line(100_000, "KWD", date(2025, 1, 15), date(2025, 4, 15)))

    assert months == {"2025-01": 18_889, "2025-02": 31_111, "2025-03": 34_444, "2025-04": 15_556}
    # JPY has no minor unit: 1000 yen over three days of two months.
    assert schedule(line(1_000, "JPY", date(2025, 1, 30), date(2025, 2, 2))) == {"2025-01": 667, "2025-02": 333}


def test_usage_is_recognized_in_the_month_consumed() -> None:
    usage = line(12_345, "EUR", date(2025, 3, 31), date(2025, 4, 30), pattern=RecognitionPattern.POINT_IN_TIME)

    assert schedule(usage) == {"2025-03": 12_345}


def test_an_upsell_mid_term_replans_the_rest_and_a_cancellation_credit_takes_back_the_remaining_months() -> None:
    start, end = date(2025, 1, 1), date(2026, 1, 1)
    annual = line(365_00, "EUR", start, end, source="in_1#1")
    # Upsell effective 2025-07-01: a proration charge for the rest of the term, its own line.
    upsell = line(184_00, "EUR", date(2025, 7, 1), end, source="in_2#1", booked_on=date(2025, 7, 1))
    # Cancelled 2025-10-01: the credit note credits the unused time of both, over that time.
    credit = line(-(92_00 + 92_00), "EUR", date(2025, 10, 1), end, source="cn_1#1", booked_on=date(2025, 10, 1))

    replanned = [annual, upsell, credit]
    per_month = {m: sum(schedule(x).get(m, 0) for x in replanned) for m in months_between("2025-01", "2025-12")}

    assert per_month["2025-06"] == 30_00  # a day's revenue is a euro before the upsell
    assert per_month["2025-08"] == 31_00 + 31_00  # twice that after it
    assert all(per_month[m] == 0 for m in ("2025-10", "2025-11", "2025-12"))  # nothing left after the cancellation
    assert sum(per_month.values()) == 365_00 + 184_00 - 184_00


def test_a_document_booked_late_is_caught_up_once_in_the_next_recognition() -> None:
    annual = line(365_00, "EUR", date(2025, 1, 1), date(2026, 1, 1), entity="DE01")
    posted_through_march = sum(schedule(annual)[m] for m in ("2025-01", "2025-02", "2025-03"))
    # A credit for March onwards reaches the books in April, after March was recognized.
    late = line(-306_00, "EUR", date(2025, 3, 1), date(2026, 1, 1), source="cn_1#1", entity="DE01")

    april = amount_to_recognize([annual, late], posted_through_march, "DE01", "EUR", "2025-04")

    assert april == (30_00 - 30_00) - 31_00  # April nets to nothing; March's credit is caught up now


def test_the_recognition_entry_moves_deferred_revenue_to_revenue_and_reverses_for_a_negative_month() -> None:
    accounts = REVENUE_ACCOUNTS["US01"]
    entry = recognition_entry("US01", "2025-02", Money(amount=1_000, currency="JPY"), accounts, lines=3)

    assert entry.external_id == "rev-US01-JPY-2025-02"
    assert entry.date == date(2025, 2, 28)
    assert [(x.account, x.debit, x.credit) for x in entry.lines] == [
        ("2400", Money(amount=1_000, currency="JPY"), None),
        ("4000", None, Money(amount=1_000, currency="JPY")),
    ]
    reversal = recognition_entry("US01", "2025-02", Money(amount=-5, currency="JPY"), accounts)
    assert [x.account for x in reversal.lines if x.debit] == ["4000"]
    with pytest.raises(ValueError, match="nothing to recognize"):
        recognition_entry("US01", "2025-02", Money.zero("JPY"), accounts)


def test_the_waterfall_rolls_deferred_revenue_forward_per_entity_and_currency() -> None:
    lines = [
        line(120_000, "JPY", date(2025, 1, 1), date(2025, 4, 1), entity="US01"),
        line(90_00, "EUR", date(2025, 2, 1), date(2025, 5, 1), entity="DE01", source="in_2#1"),
    ]

    rows = waterfall(lines, "2025-01", "2025-04")

    jpy = [r for r in rows if r.currency == "JPY"]
    assert [(r.opening, r.billed, r.recognized, r.closing) for r in jpy] == [
        (0, 120_000, 41_333, 78_667),
        (78_667, 0, 37_334, 41_333),
        (41_333, 0, 41_333, 0),
        (0, 0, 0, 0),
    ]
    eur = [r for r in rows if r.currency == "EUR"]
    assert eur[-1].closing == 0
    assert sum(r.recognized for r in eur) == 90_00
    assert scheduled_through(lines, "2025-02") == {("US01", "JPY"): 78_667, ("DE01", "EUR"): 28_31}  # 28 of 89 days


@pytest.mark.parametrize("bad", ["2025-13", "2025-1", "25-01", "2025/01"])
def test_a_month_that_is_not_yyyy_mm_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not YYYY-MM"):
        parse_month(bad)


def test_a_service_period_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationError, match="before it starts"):
        line(1, "EUR", date(2025, 2, 1), date(2025, 1, 1))
    assert last_day("2024-02") == date(2024, 2, 29)


def test_a_uk01_deal_in_another_currency_is_refused_before_anything_starts() -> None:
    """The first line of the Xero journal currency decision (docs/decisions.md): UK01 books in Xero, whose manual
    journals are GBP only, and invoices in GBP only, so a USD deal for it is refused at the trigger and by the saga's
    check; nothing is billed, so nothing reaches its deferred revenue."""
    assert deal_problems(make_deal(legal_entity="UK01", currency="USD")) == [
        ("unsupported_currency", "UK01 does not invoice in USD (it invoices in GBP)")
    ]
    assert deal_problems(make_deal(legal_entity="UK01", currency="GBP")) == []
