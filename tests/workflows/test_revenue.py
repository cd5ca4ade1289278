"""RevenueRecognition on the dev server with the NetSuite emulator over HTTP: month by month the journals equal the
computed schedule, an upsell and a cancellation credit re-plan the rest, a re-run posts nothing new, a closed
period posts into the next open one with a note, and bad requests are refused with nothing posted.

Months of 2021 keep these books apart from the sagas other tests bill now; the ERP emulator is reset first
(recognition reads an entity's whole deferred revenue)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from canonical import Address, CreditNote, Customer, Invoice, InvoiceAdjustment, InvoiceLine, Money
from canonical.reference import LEGAL_ENTITIES
from canonical.revenue import RevenueLine, months_between, schedule
from connectors.netsuite import NetSuiteErp
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.factories import cancellation_credit
from tests.support.histories import HISTORY_DIR
from workflows.revenue import Outcome, RecognitionInput, RecognitionResult, RevenueRecognition

YEN = 72_000
CREDITED = 135_384


def jpy(amount: int) -> Money:
    return Money(amount=amount, currency="JPY")


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    urls = all_emulators(emulators)
    async with running_estate(temporal_env, urls, task_queue, tmp_path) as estate:
        (await estate.http.post(f"{urls['netsuite']}/_sandbox/reset")).raise_for_status()
        yield estate
        (await estate.http.post(f"{urls['netsuite']}/_sandbox/reset")).raise_for_status()


def erp(estate: Estate) -> NetSuiteErp:
    assert isinstance(estate.connectors.erp, NetSuiteErp)
    return estate.connectors.erp


async def book_annual_subscription(estate: Estate) -> tuple[Invoice, Invoice, CreditNote]:
    """An annual JPY invoice (2021-01-15 .. 2022-01-15), an upsell from 2021-07-01 on an invoice of its own, and a
    cancellation on 2021-10-01 crediting the unused time of both (posted to the first invoice)."""
    customer = Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name="Revenue Corp",
        address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
    )
    customer_id = await erp(estate).upsert_customer(customer, LEGAL_ENTITIES["US01"], "JPY")
    start, end = date(2021, 1, 15), date(2022, 1, 15)
    seat = InvoiceLine(
        product_code="PLAT-SEAT",
        description="Platform seat (annual)",
        quantity=5,
        unit_amount=jpy(YEN),
        amount=jpy(5 * YEN),
        period_start=start,
        period_end=end,
    )

    def invoice(suffix: str, issued: date, **fields: Any) -> Invoice:
        return Invoice(
            golden_customer_id=customer.golden_id or "",
            legal_entity="US01",
            currency="JPY",
            issue_date=issued,
            due_date=issued,
            tax=jpy(0),
            external_refs={"stripe": f"in_rev{suffix}_{uuid.uuid4().hex[:8]}"},
            **fields,
        )

    annual = invoice("a", start, lines=[seat])
    upsell_line = InvoiceAdjustment(
        product_code="PLAT-SEAT",
        description="Remaining time on 2 x Platform seat",
        quantity=2,
        amount=jpy(57_600),
        period_start=date(2021, 7, 1),
        period_end=end,
    )
    upsell = invoice("u", date(2021, 7, 1), lines=[], adjustments=[upsell_line])
    annual_id = await erp(estate).post_invoice(annual, customer_id)
    await erp(estate).post_invoice(upsell, customer_id)
    # The unused time (106 of 365 days of the seats, 106 of 198 of the upsell), as billing prorates it.
    credit = cancellation_credit(annual, jpy(CREDITED), end, f"cn_rev_{uuid.uuid4().hex[:8]}")
    await erp(estate).post_credit_note(credit, annual_id, customer_id)
    return annual, upsell, credit


async def recognize(estate: Estate, entity: str, month: str | None, run: str = "") -> RecognitionResult:
    result: RecognitionResult = await estate.client.execute_workflow(
        RevenueRecognition.run,
        RecognitionInput(legal_entity=entity, month=month),
        id=f"test-revenue-{entity}-{month}-{run}{uuid.uuid4().hex[:6]}",
        task_queue=estate.settings.task_queue,
    )
    return result


def expected_per_month(lines: list[RevenueLine]) -> dict[str, int]:
    per_month: dict[str, int] = {}
    for line in lines:
        for month, amount in schedule(line).items():
            per_month[month] = per_month.get(month, 0) + amount
    return per_month


async def journals(estate: Estate) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await estate.state("netsuite"))["journalEntry"]
    return found


async def test_monthly_journals_equal_the_schedule_and_an_upsell_and_a_cancellation_replan_the_rest(
    estate: Estate,
) -> None:
    await book_annual_subscription(estate)
    ledger = await erp(estate).revenue_ledger("US01")
    expected = expected_per_month(ledger.lines)

    results = [await recognize(estate, "US01", month) for month in months_between("2021-01", "2021-12")]

    posted = {r.month: r.currencies for r in results}
    assert all([c.currency for c in currencies] == ["JPY", "USD"] for currencies in posted.values())
    jpy_amounts = {month: currencies[0].amount for month, currencies in posted.items()}
    assert jpy_amounts == {month: expected.get(month, 0) for month in months_between("2021-01", "2021-12")}
    assert jpy_amounts["2021-06"] < jpy_amounts["2021-08"]  # the upsell adds to the months after it
    assert abs(jpy_amounts["2021-11"]) <= 1  # the cancellation credit took the rest back (to the yen's rounding)
    assert all(c.outcome is Outcome.NOTHING for currencies in posted.values() for c in currencies[1:])  # no USD
    after = await erp(estate).revenue_ledger("US01")
    recognized = sum(r.amount for r in after.recognitions)
    assert after.deferred_balance["JPY"] == 5 * YEN + 57_600 - CREDITED - recognized
    # January 2022 recognizes the last half month; then nothing is deferred any more.
    assert (await recognize(estate, "US01", "2022-01")).currencies[0].amount == expected["2022-01"]
    assert (await erp(estate).revenue_ledger("US01")).deferred_balance["JPY"] == 0
    assert (await recognize(estate, "US01", "2022-02")).currencies[0].outcome is Outcome.NOTHING


async def test_a_rerun_posts_nothing_new_and_an_earlier_month_is_refused(estate: Estate) -> None:
    await book_annual_subscription(estate)
    first = await recognize(estate, "US01", "2021-01")
    second = await recognize(estate, "US01", "2021-02")
    count = len(await journals(estate))

    again = await recognize(estate, "US01", "2021-02", run="again-")

    assert [c.outcome for c in again.currencies] == [Outcome.EXISTS, Outcome.NOTHING]
    assert again.currencies[0].amount == second.currencies[0].amount
    assert len(await journals(estate)) == count
    with pytest.raises(WorkflowFailureError) as refused:
        await recognize(estate, "US01", "2021-01", run="late-")
    assert isinstance(refused.value.cause, ApplicationError)
    assert "2021-01 is before 2021-02, already recognized" in refused.value.cause.message
    assert first.currencies[0].outcome is Outcome.POSTED
    assert len(await journals(estate)) == count
    if os.environ.get("C2C_RECORD_HISTORY"):  # `C2C_RECORD_HISTORY=1 pytest this file` refreshes the replay history
        handle = estate.client.get_workflow_handle(f"revenue-history-{uuid.uuid4().hex[:6]}")
        result = await estate.client.start_workflow(
            RevenueRecognition.run,
            RecognitionInput(legal_entity="US01", month="2021-03"),
            id=handle.id,
            task_queue=estate.settings.task_queue,
        )
        await result.result()
        history = await result.fetch_history()
        (HISTORY_DIR / "revenue_recognition_posted.json").write_text(history.to_json())


async def test_a_closed_period_posts_into_the_next_open_one_with_a_note(estate: Estate) -> None:
    await book_annual_subscription(estate)
    closed = await estate.http.post(f"{estate.urls['netsuite']}/_sandbox/periods/close", json={"before": "2021-03-01"})
    closed.raise_for_status()

    result = await recognize(estate, "US01", "2021-01")

    journal = result.currencies[0].journal
    assert journal is not None
    assert (journal.month, journal.posted_on) == ("2021-01", date(2021, 3, 1))
    assert journal.memo is not None
    assert "period closed, posted in the next open one" in journal.memo


@pytest.mark.parametrize(
    ("entity", "month", "message"),
    [
        ("XX01", "2021-01", "unknown legal entity 'XX01'"),
        ("US01", "2999-01", "month 2999-01 has not ended"),
        ("US01", "2021-13", "month '2021-13' is not YYYY-MM"),
    ],
)
async def test_bad_requests_are_refused_naming_the_problem_and_post_nothing(
    estate: Estate, entity: str, month: str, message: str
) -> None:
    await book_annual_subscription(estate)

    with pytest.raises(WorkflowFailureError) as refused:
        await recognize(estate, entity, month)

    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "RecognitionRefused"
    assert message in refused.value.cause.message
    assert await journals(estate) == []


def test_recognition_for_an_entity_without_revenue_accounts_is_refused_naming_its_erp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import date

    from temporalio.exceptions import ApplicationError

    from workflows import revenue
    from workflows.revenue import checked_month

    monkeypatch.delitem(revenue.REVENUE_ACCOUNTS, "UK01")  # every entity has them today (UK01 since Xero's journals)
    with pytest.raises(ApplicationError, match=r"UK01 has no deferred revenue accounts: its ERP \(xero\)"):
        checked_month(RecognitionInput(legal_entity="UK01", erp="xero", month="2025-01"), date(2025, 3, 1))
