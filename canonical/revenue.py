"""Revenue recognition (ASC 606 / IFRS 15): what was billed, deferred and recognized over its service period.

Pure arithmetic on canonical objects, no clock and no I/O: the recognition workflow, the reconciler and the demo
all compute the same schedule from the same lines.

- A **ratable** line (a subscription line, a proration, a credit note's line) is recognized over its service period
  `[service_start, service_end)`, **daily-prorated by calendar month** in its currency's minor units: each month's
  share is the rounded (half-even) cumulative share of days through that month minus the cumulative share before
  it, so every month has the line's sign, and the last month takes what is left (the rounding remainder): the
  months sum to the line exactly.
- A **point-in-time** line (usage: recognized in the period it was consumed) lands whole in the month of
  `service_start` (the consumption date).
- Amendments and cancellations need no rewrite of earlier schedules: a proration is a line of its own over its
  part-period (signed), and a credit note's lines are negative lines over the unused time they credit, so they
  reduce exactly the remaining months of what they credit. What a late document changes in months already
  recognized is caught up in the next recognition (`amount_to_recognize`: scheduled through the month minus what
  was posted before it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from canonical.ledger import JournalEntry, JournalLine
from canonical.money import CurrencyCode, Money

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


def month_of(day: date) -> str:
    """'YYYY-MM' of a day."""
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(month: str) -> date:
    """The first day of a 'YYYY-MM' month; ValueError naming the value otherwise."""
    if not _MONTH.match(month):
        raise ValueError(f"month {month!r} is not YYYY-MM")
    return date(int(month[:4]), int(month[5:]), 1)


def next_month(month: str) -> str:
    first = parse_month(month)
    return month_of((first + timedelta(days=32)).replace(day=1))


def previous_month(month: str) -> str:
    return month_of(parse_month(month) - timedelta(days=1))


def last_day(month: str) -> date:
    """The last day of a month: the date a month's recognition journal is dated."""
    return parse_month(next_month(month)) - timedelta(days=1)


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included (empty when `last` is before `first`)."""
    months: list[str] = []
    month = first
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


class RecognitionPattern(StrEnum):
    RATABLE = "ratable"  # over the service period, daily (subscriptions, prorations, credits of them)
    POINT_IN_TIME = "point_in_time"  # whole in the month consumed (usage)


class RevenueLine(BaseModel):
    """One amount booked to deferred revenue: a line of an invoice (positive; a proration may be negative) or of a
    credit memo (negative: it takes back what it credits)."""

    source_id: str = Field(min_length=1, description="the ERP document's external id and the line: '{doc}#{n}'")
    document_id: str = Field(min_length=1, description="the ERP document's external id (billing's id)")
    legal_entity: str
    amount: Money = Field(description="signed: what this line adds to (or takes from) deferred revenue")
    booked_on: date = Field(description="the document's transaction date: when it reached deferred revenue")
    service_start: date
    service_end: date = Field(description="exclusive: the day service stops (billing's period end)")
    pattern: RecognitionPattern = RecognitionPattern.RATABLE

    @model_validator(mode="after")
    def _period_in_order(self) -> RevenueLine:
        if self.service_end < self.service_start:
            raise ValueError(f"{self.source_id}: service ends {self.service_end} before it starts {self.service_start}")
        return self

    @property
    def currency(self) -> str:
        return self.amount.currency


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def schedule(line: RevenueLine) -> dict[str, int]:
    """Minor units recognized per month ('YYYY-MM' -> amount, in month order); sums exactly to the line."""
    start, end, amount = line.service_start, line.service_end, line.amount.amount
    days = (end - start).days
    if line.pattern is RecognitionPattern.POINT_IN_TIME or days <= 0:
        return {month_of(start): amount}
    result: dict[str, int] = {}
    served = 0
    recognized = 0
    month_start = start
    while month_start < end:
        month_end = min(parse_month(next_month(month_of(month_start))), end)
        served += (month_end - month_start).days
        # Rounded cumulative share minus what earlier months took: the last month (served == days) takes exactly
        # what is left, the rounding remainder.
        cumulative = amount if served == days else _round(Decimal(amount) * served / days)
        result[month_of(month_start)] = cumulative - recognized
        recognized = cumulative
        month_start = month_end
    return result


def scheduled_through(lines: Iterable[RevenueLine], month: str) -> dict[tuple[str, str], int]:
    """Per (legal entity, currency): what the schedules recognize in `month` and every month before it, of the lines
    booked by the month's end (the cut-off: a document dated later is the next month's, caught up then). So a
    month's figure never depends on when its recognition ran."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    cutoff = last_day(month)
    for line in lines:
        if line.booked_on > cutoff:
            continue
        key = (line.legal_entity, line.currency)
        totals[key] += sum(amount for m, amount in schedule(line).items() if m <= month)
    return dict(totals)


def amount_to_recognize(
    lines: Iterable[RevenueLine], posted_before: int, legal_entity: str, currency: str, month: str
) -> int:
    """What `month`'s journal recognizes for one entity and currency: the schedules through the month (of the lines
    booked by its end) minus what earlier journals already recognized, so a document that reached the books late is
    caught up now, once; the journals through a month always sum to `scheduled_through` that month."""
    mine = [line for line in lines if line.legal_entity == legal_entity and line.currency == currency]
    return scheduled_through(mine, month).get((legal_entity, currency), 0) - posted_before


class RevenueAccounts(BaseModel):
    """The GL accounts one legal entity books revenue on (docs/revenue.md has the table)."""

    deferred_revenue: str = Field(min_length=1, description="liability: billed, not yet earned")
    subscription_revenue: str = Field(min_length=1, description="income: earned over the service period")


def recognition_external_id(legal_entity: str, currency: str, month: str) -> str:
    """The journal's external id: one per period, entity and currency, so a re-run finds it and posts nothing."""
    parse_month(month)
    return f"rev-{legal_entity}-{currency}-{month}"


def recognition_entry(
    legal_entity: str, month: str, amount: Money, accounts: RevenueAccounts, *, lines: int = 0
) -> JournalEntry:
    """Dr deferred revenue, Cr revenue for what `month` earned, dated its last day; a negative amount (credits of
    months already recognized exceed what the month earned) reverses the sides."""
    if amount.amount == 0:
        raise ValueError(f"nothing to recognize for {legal_entity} {amount.currency} {month}")
    earned = amount.amount > 0
    size = Money(amount=abs(amount.amount), currency=amount.currency)
    debit, credit = (
        (accounts.deferred_revenue, accounts.subscription_revenue)
        if earned
        else (accounts.subscription_revenue, accounts.deferred_revenue)
    )
    memo = f"Revenue recognition {month} ({legal_entity}, {amount.currency}, {lines} schedule lines)"
    return JournalEntry(
        external_id=recognition_external_id(legal_entity, amount.currency, month),
        legal_entity=legal_entity,
        date=last_day(month),
        memo=memo,
        lines=[
            JournalLine(account=debit, debit=size, memo="deferred revenue earned" if earned else "revenue reversed"),
            JournalLine(account=credit, credit=size, memo="recognized" if earned else "back to deferred revenue"),
        ],
    )


class WaterfallRow(BaseModel):
    """One month of one (legal entity, currency): deferred revenue at the start, billed into it, recognized out of
    it, and at the end (opening + billed - recognized)."""

    legal_entity: str
    currency: CurrencyCode
    month: str
    opening: int
    billed: int
    recognized: int
    closing: int


def waterfall(lines: Iterable[RevenueLine], first: str, last: str) -> list[WaterfallRow]:
    """The deferred revenue waterfall per (legal entity, currency) and month, from `first` to `last` (everything
    booked or recognized before `first` is in its opening balance)."""
    billed: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    earned: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        key = (line.legal_entity, line.currency)
        billed[key][month_of(line.booked_on)] += line.amount.amount
        for month, amount in schedule(line).items():
            earned[key][month] += amount
    rows: list[WaterfallRow] = []
    for entity, currency in sorted(billed.keys() | earned.keys()):
        b, e = billed[(entity, currency)], earned[(entity, currency)]
        balance = sum(v for m, v in b.items() if m < first) - sum(v for m, v in e.items() if m < first)
        for month in months_between(first, last):
            closing = balance + b.get(month, 0) - e.get(month, 0)
            rows.append(
                WaterfallRow(
                    legal_entity=entity,
                    currency=currency,
                    month=month,
                    opening=balance,
                    billed=b.get(month, 0),
                    recognized=e.get(month, 0),
                    closing=closing,
                )
            )
            balance = closing
    return rows


class PostedRecognition(BaseModel):
    """A recognition journal the ERP holds (external id `rev-{entity}-{currency}-{yyyy-mm}`)."""

    external_id: str
    legal_entity: str
    currency: CurrencyCode
    month: str = Field(pattern=MONTH_PATTERN, description="the month it recognizes (from its external id)")
    amount: int = Field(description="minor units it moved out of deferred revenue (negative: back into it)")
    posted_on: date = Field(description="its transaction date: the month's last day, or later when that was closed")
    memo: str | None = None
    erp_id: str | None = None


class RevenueLedger(BaseModel):
    """What one legal entity's books say about deferred revenue, read from the ERP."""

    legal_entity: str
    lines: list[RevenueLine] = Field(
        default_factory=list, description="invoice and credit memo lines with a service period (deferred)"
    )
    recognitions: list[PostedRecognition] = Field(default_factory=list)
    deferred_balance: dict[str, int] = Field(
        default_factory=dict,
        description="per currency: the deferred revenue account's balance (credits - debits), every posting on it",
    )
    journal_currencies: list[str] | None = Field(
        default=None,
        description="the only currencies the ERP books a journal in (Xero: the organisation's base currency); "
        "None: any currency a line is in (NetSuite, and every ledger read before this field)",
    )

    @classmethod
    def read(
        cls,
        legal_entity: str,
        lines: list[RevenueLine],
        recognitions: list[PostedRecognition],
        deferred_balance: dict[str, int],
        *,
        journal_currencies: list[str] | None = None,
    ) -> RevenueLedger:
        """The ledger as an ERP connector read it, in a stable order whatever order the ERP listed it in."""
        return cls(
            legal_entity=legal_entity,
            lines=sorted(lines, key=lambda line: line.source_id),
            recognitions=sorted(recognitions, key=lambda posted: (posted.currency, posted.month)),
            deferred_balance=deferred_balance,
            journal_currencies=journal_currencies,
        )

    def unpostable(self) -> dict[str, list[str]]:
        """Per currency the ERP cannot book a journal in, the documents holding deferred revenue in it."""
        if self.journal_currencies is None:
            return {}
        found: dict[str, set[str]] = {}
        for line in self.lines:
            if line.currency not in self.journal_currencies:
                found.setdefault(line.currency, set()).add(line.document_id)
        return {currency: sorted(documents) for currency, documents in sorted(found.items())}
