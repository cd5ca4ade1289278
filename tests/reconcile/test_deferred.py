"""Deferred revenue = invoiced - recognized, per legal entity and currency: consistent books have no finding; a
planted break (a journal missing or changed, a posting by hand, a line posted to revenue directly) is found once."""

from __future__ import annotations

from datetime import date

from canonical import Money
from canonical.revenue import PostedRecognition, RevenueLedger, RevenueLine, schedule
from reconcile.compare import MismatchKind, compare
from reconcile.deferred import deferred_revenue
from tests.support.snapshots import estate

ANNUAL = RevenueLine(
    source_id="in_1#1",
    document_id="in_1",
    legal_entity="DE01",
    amount=Money(amount=1_200_00, currency="EUR"),
    booked_on=date(2025, 1, 1),
    service_start=date(2025, 1, 1),
    service_end=date(2026, 1, 1),
)
CREDIT = ANNUAL.model_copy(
    update={
        "source_id": "cn_1#1",
        "document_id": "cn_1",
        "amount": Money(amount=-400_00, currency="EUR"),
        "booked_on": date(2025, 9, 1),
        "service_start": date(2025, 9, 1),
    }
)


def books(months: list[str], lines: list[RevenueLine] | None = None, manual: int = 0) -> RevenueLedger:
    """An entity's books with a recognition journal for each month as the schedules say, and a hand posting."""
    lines = [ANNUAL, CREDIT] if lines is None else lines
    journals = []
    recognized = 0
    for month in months:
        # The journal's amount as the workflow computes it: scheduled through the month, less earlier journals.
        through = sum(
            v
            for line in lines
            if line.booked_on.isoformat()[:7] <= month
            for m, v in schedule(line).items()
            if m <= month
        )
        journals.append(
            PostedRecognition(
                external_id=f"rev-DE01-EUR-{month}",
                legal_entity="DE01",
                currency="EUR",
                month=month,
                amount=through - recognized,
                posted_on=date(int(month[:4]), int(month[5:]), 28),
            )
        )
        recognized = through
    balance = sum(line.amount.amount for line in lines) - recognized - manual
    return RevenueLedger(legal_entity="DE01", lines=lines, recognitions=journals, deferred_balance={"EUR": balance})


MONTHS = [f"2025-{n:02d}" for n in range(1, 11)]


def test_consistent_books_have_no_finding() -> None:
    assert deferred_revenue([books(MONTHS), books([], lines=[])]) == []


def test_a_missing_recognition_journal_is_found() -> None:
    ledger = books(MONTHS)
    missing = ledger.recognitions.pop(4)  # May's journal never reached the ERP; the balance still holds it
    ledger.deferred_balance["EUR"] += missing.amount

    [finding] = deferred_revenue([ledger])

    assert (finding.kind, finding.system, finding.subject) == (
        MismatchKind.DEFERRED_REVENUE_DIFFERS,
        "netsuite",
        "DE01:EUR",
    )
    assert "through 2025-10" in finding.expected
    assert finding.found == f"deferred revenue balance EUR {(ledger.deferred_balance['EUR']) / 100:,.2f}"


def test_a_posting_by_hand_on_deferred_revenue_is_found() -> None:
    [finding] = deferred_revenue([books(MONTHS, manual=1)])
    assert finding.subject == "DE01:EUR"


def test_a_line_posted_to_revenue_instead_of_deferred_revenue_is_found() -> None:
    ledger = books(MONTHS)
    ledger.deferred_balance["EUR"] -= 100_00  # an invoice line of 100.00 went to revenue: never deferred
    ledger.lines.append(
        ANNUAL.model_copy(update={"source_id": "in_2#1", "amount": Money(amount=100_00, currency="EUR")})
    )
    assert [m.kind for m in deferred_revenue([ledger])] == [MismatchKind.DEFERRED_REVENUE_DIFFERS]


def test_the_reconciler_reports_it_with_the_other_kinds_and_not_for_runs_that_did_not_read_it() -> None:
    snap = estate(2)
    assert snap.erp.revenue is None
    assert compare(snap) == []
    snap.erp.revenue = [books(MONTHS, manual=5)]
    assert [(m.kind, m.subject) for m in compare(snap)] == [(MismatchKind.DEFERRED_REVENUE_DIFFERS, "DE01:EUR")]


def test_deferred_revenue_in_a_currency_the_erp_books_no_journal_in_is_found() -> None:
    """Xero's manual journals are in the base currency only: a USD line in a GBP organisation can never be
    recognized, and recognition refuses the entity's months; the nightly run names it too."""
    usd = ANNUAL.model_copy(update={"amount": Money(amount=600_00, currency="USD"), "document_id": "INV-7"})
    ledger = books(MONTHS)
    ledger.lines.append(usd)
    ledger.deferred_balance["USD"] = 600_00
    assert deferred_revenue([ledger]) == []  # any currency may be journaled (NetSuite): consistent as it is

    ledger.journal_currencies = ["EUR"]
    [finding] = deferred_revenue([ledger], lambda entity: "xero")

    assert (finding.kind, finding.system, finding.subject) == (
        MismatchKind.DEFERRED_REVENUE_DIFFERS,
        "xero",
        "DE01:USD",
    )
    assert "currency_not_base" in finding.expected
    assert finding.found == "USD 600.00 deferred on INV-7"
