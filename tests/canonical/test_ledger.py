"""Journal entries balance per currency; each line has exactly one positive side."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from canonical import JournalEntry, JournalLine, Money


def usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def entry(*lines: JournalLine) -> JournalEntry:
    return JournalEntry(external_id="je-1", legal_entity="US01", date=date(2024, 5, 1), lines=list(lines))


def test_a_balanced_entry_is_accepted() -> None:
    je = entry(
        JournalLine(account="1200", debit=usd(10725)),
        JournalLine(account="4000", credit=usd(10000)),
        JournalLine(account="2200", credit=usd(725)),
    )
    assert len(je.lines) == 3


def test_balanced_in_each_of_two_currencies_is_accepted() -> None:
    entry(
        JournalLine(account="1200", debit=usd(100)),
        JournalLine(account="4000", credit=usd(100)),
        JournalLine(account="1200", debit=eur(90)),
        JournalLine(account="4000", credit=eur(90)),
    )


def test_an_unbalanced_entry_is_rejected_with_the_difference() -> None:
    with pytest.raises(ValidationError, match=r"unbalanced journal entry .*'USD': 1"):
        entry(JournalLine(account="1200", debit=usd(10001)), JournalLine(account="4000", credit=usd(10000)))


def test_equal_totals_in_different_currencies_do_not_balance() -> None:
    with pytest.raises(ValidationError, match=r"'USD': 100, 'EUR': -100"):
        entry(JournalLine(account="1200", debit=usd(100)), JournalLine(account="4000", credit=eur(100)))


def test_one_balanced_currency_does_not_hide_an_unbalanced_one() -> None:
    with pytest.raises(ValidationError, match=r"\{'EUR': 5\}"):
        entry(
            JournalLine(account="1200", debit=usd(100)),
            JournalLine(account="4000", credit=usd(100)),
            JournalLine(account="1200", debit=eur(95)),
            JournalLine(account="4000", credit=eur(90)),
        )


def test_a_line_with_both_sides_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of debit or credit"):
        JournalLine(account="1200", debit=usd(100), credit=usd(100))


def test_a_line_with_neither_side_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of debit or credit"):
        JournalLine(account="1200")


@pytest.mark.parametrize("amount", [0, -100])
def test_a_line_amount_must_be_positive(amount: int) -> None:
    with pytest.raises(ValidationError, match="amount must be positive"):
        JournalLine(account="1200", debit=usd(amount))
    with pytest.raises(ValidationError, match="amount must be positive"):
        JournalLine(account="1200", credit=usd(amount))


def test_an_entry_needs_two_lines() -> None:
    with pytest.raises(ValidationError, match="at least 2"):
        entry(JournalLine(account="1200", debit=usd(100)))
