"""RevenueRecognition for UK01, whose ERP is Xero (dev server, real workers, the Xero emulator over HTTP): month by
month one POSTED manual journal per month (Dr deferred revenue 2400, Cr revenue 4000) equal to the computed
schedule, an upsell and a cancellation credit re-planning the rest; exactly one journal for a month whose answer
Xero lost (the retry finds it by its narration), and a re-run posts nothing new.

Months of 2021 keep these books apart from the sagas other tests bill now; the Xero emulator is reset around each
test (recognition reads the organisation's whole deferred revenue). Deferred revenue in a currency other than the
organisation's base is refused before any journal, since Xero's manual journals carry no currency."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from canonical import InvoiceAdjustment, InvoiceLine, Money
from canonical.revenue import RevenueLine, months_between, schedule
from connectors.xero import XeroErp
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.factories import cancellation_credit
from tests.support.xero import ENTITY, TENANT, uk_customer, uk_invoice
from workflows.revenue import REFUSED, Outcome, RecognitionInput, RecognitionResult, RevenueRecognition

SEATS = 5 * 720_00
UPSELL = 781_15  # 2 seats for 198 of 365 days
CREDITED = 1463_67  # the unused 106 days of both
LOST_AFTER = 3.0  # seconds Xero holds its answer to the journal's PUT: past the estate's 1 s HTTP timeout


def gbp(amount: int) -> Money:
    return Money(amount=amount, currency="GBP")


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    urls = all_emulators(emulators)
    async with running_estate(temporal_env, urls, task_queue, tmp_path, http_timeout=1.0) as estate:
        (await estate.http.post(f"{urls['xero']}/_sandbox/reset")).raise_for_status()
        (await estate.http.delete(f"{urls['xero']}/_sandbox/faults")).raise_for_status()
        yield estate
        (await estate.http.delete(f"{urls['xero']}/_sandbox/faults")).raise_for_status()
        (await estate.http.post(f"{urls['xero']}/_sandbox/reset")).raise_for_status()


def xero(estate: Estate) -> XeroErp:
    erp = estate.connectors.erps["xero"]
    assert isinstance(erp, XeroErp)
    return erp


async def book_annual_subscription(estate: Estate) -> None:
    """An annual GBP seat invoice (2021-01-15 .. 2022-01-15), an upsell from 2021-07-01 on an invoice of its own,
    and a cancellation on 2021-10-01 crediting the unused time of both, in UK01's Xero organisation."""
    start, end = date(2021, 1, 15), date(2022, 1, 15)
    contact = await xero(estate).upsert_customer(uk_customer(), ENTITY, "GBP")
    seat = InvoiceLine(
        product_code="PLAT-SEAT",
        description="Platform seat (annual)",
        quantity=5,
        unit_amount=gbp(720_00),
        amount=gbp(SEATS),
        period_start=start,
        period_end=end,
    )
    annual = uk_invoice(f"in_xrev_{uuid.uuid4().hex[:8]}", tax=0)
    annual = annual.model_copy(update={"issue_date": start, "due_date": start, "lines": [seat]})
    upsell_line = InvoiceAdjustment(
        product_code="PLAT-SEAT",
        description="Remaining time on 2 x Platform seat",
        quantity=2,
        amount=gbp(UPSELL),
        period_start=date(2021, 7, 1),
        period_end=end,
    )
    upsell = uk_invoice(f"in_xrevu_{uuid.uuid4().hex[:8]}", tax=0)
    upsell = upsell.model_copy(
        update={"issue_date": date(2021, 7, 1), "due_date": date(2021, 7, 1), "lines": [], "adjustments": [upsell_line]}
    )
    annual_id = await xero(estate).post_invoice(annual, contact)
    await xero(estate).post_invoice(upsell, contact)
    credit = cancellation_credit(annual, gbp(CREDITED), end, f"cn_xrev_{uuid.uuid4().hex[:8]}")
    await xero(estate).post_credit_note(credit, annual_id, contact)


async def recognize(estate: Estate, month: str, run: str = "") -> tuple[RecognitionResult, str]:
    workflow_id = f"test-xero-revenue-{month}-{run}{uuid.uuid4().hex[:6]}"
    result: RecognitionResult = await estate.client.execute_workflow(
        RevenueRecognition.run,
        RecognitionInput(legal_entity="UK01", erp="xero", month=month),
        id=workflow_id,
        task_queue=estate.settings.task_queue,
    )
    return result, workflow_id


def expected_per_month(lines: list[RevenueLine]) -> dict[str, int]:
    per_month: dict[str, int] = {}
    for line in lines:
        for month, amount in schedule(line).items():
            per_month[month] = per_month.get(month, 0) + amount
    return per_month


async def journals(estate: Estate) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await estate.state("xero"))[TENANT]["ManualJournals"]
    return found


async def posting_attempts(estate: Estate, workflow_id: str) -> list[int]:
    """The attempt each `erp.post_recognition` activity of the run finished on (Temporal records the last)."""
    history = await estate.client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "erp.post_recognition"
    }
    return [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_uk_monthly_journals_post_to_xero_once_each_even_when_an_answer_is_lost(estate: Estate) -> None:
    await book_annual_subscription(estate)
    ledger = await xero(estate).revenue_ledger("UK01")
    assert sum(line.amount.amount for line in ledger.lines) == SEATS + UPSELL - CREDITED
    expected = expected_per_month(ledger.lines)
    # January's journal is written, and its answer lost: the activity's retry must find it, not post it again.
    rule = {"method": "PUT", "path_prefix": "/api.xro/2.0/ManualJournals", "kind": "delay_after", "seconds": LOST_AFTER}
    (await estate.http.post(f"{estate.urls['xero']}/_sandbox/faults", json=rule)).raise_for_status()

    runs = [await recognize(estate, month) for month in months_between("2021-01", "2022-02")]

    amounts = {result.month: result.currencies[0].amount for result, _ in runs}
    assert all([c.currency for c in result.currencies] == ["GBP"] for result, _ in runs)
    assert amounts == {month: expected.get(month, 0) for month in months_between("2021-01", "2022-02")}
    assert amounts["2021-06"] < amounts["2021-08"]  # the upsell adds to the months after it
    assert amounts["2021-11"] == 0  # the cancellation credit took the rest back
    assert await posting_attempts(estate, runs[0][1]) == [2]  # January's first attempt lost its answer
    posted = [r for r, _ in runs if r.currencies[0].outcome is Outcome.POSTED]
    assert [r.month for r in posted] == [month for month, amount in amounts.items() if amount]
    books = await journals(estate)
    for result in posted:
        external_id = f"rev-UK01-GBP-{result.month}"
        [journal] = [j for j in books if j["Narration"].startswith(f"[{external_id}]")]
        assert result.currencies[0].journal is not None
        assert result.currencies[0].journal.erp_id == journal["ManualJournalID"]
        assert journal["Status"] == "POSTED"
        debit, credit = journal["JournalLines"]
        earned = result.currencies[0].amount > 0
        assert (debit["AccountCode"], credit["AccountCode"]) == (("2400", "4000") if earned else ("4000", "2400"))
        assert (
            round(debit["LineAmount"] * 100) == abs(result.currencies[0].amount) == -round(credit["LineAmount"] * 100)
        )
    assert len(books) == len(posted)
    assert (await xero(estate).revenue_ledger("UK01")).deferred_balance == {"GBP": 0}

    last = posted[-1].month  # the last month that moved anything (the credit ended the service in October)
    again, _ = await recognize(estate, last, run="again-")
    assert again.currencies[0].outcome is Outcome.EXISTS
    assert again.currencies[0].amount == amounts[last]
    assert len(await journals(estate)) == len(posted)


async def test_deferred_revenue_in_another_currency_is_refused_before_any_journal(estate: Estate) -> None:
    """A USD invoice in UK01's GBP organisation (UK01 sells in GBP only, but Xero takes any subscribed currency, and
    an invoice may reach the books another way): its deferred revenue cannot be recognized by a manual journal, so
    the month is refused naming the currency and the document, and not even the GBP journal is posted."""
    contact = await xero(estate).upsert_customer(uk_customer(), ENTITY, "GBP")
    for currency in ("GBP", "USD"):
        amount = Money(amount=SEATS, currency=currency)
        seat = InvoiceLine(
            product_code="PLAT-SEAT",
            description="Platform seat (annual)",
            quantity=5,
            unit_amount=Money(amount=720_00, currency=currency),
            amount=amount,
            period_start=date(2021, 1, 15),
            period_end=date(2022, 1, 15),
        )
        invoice = uk_invoice(f"in_xcur_{currency}_{uuid.uuid4().hex[:8]}", tax=0)
        invoice = invoice.model_copy(
            update={
                "currency": currency,
                "issue_date": date(2021, 1, 15),
                "due_date": date(2021, 1, 15),
                "lines": [seat],
                "tax": Money(amount=0, currency=currency),
                "number": f"UK-{currency}",
            }
        )
        await xero(estate).post_invoice(invoice, contact)
    ledger = await xero(estate).revenue_ledger("UK01")
    assert ledger.journal_currencies == ["GBP"]
    [usd_document] = {line.document_id for line in ledger.lines if line.currency == "USD"}

    with pytest.raises(WorkflowFailureError) as failed:
        await recognize(estate, "2021-01")

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == REFUSED
    assert "currency_not_base" in cause.message
    assert f"USD on {usd_document}" in cause.message
    assert await journals(estate) == []  # nothing posted, GBP included
