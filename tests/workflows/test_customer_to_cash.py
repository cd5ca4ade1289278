"""The saga end to end: real Temporal dev server, real connectors, emulators over HTTP, SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from estate.book import DealSpec
from operations import finance
from operations.errors import SagaEnded
from operations.finance import QueueFilter
from store import OutboxRepository, SagaFactRepository, session_scope
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from tests.support.sagas import EUR_DEAL, GOOD_ADDRESS, JPY_DEAL, PARKED_DEAL, USD_DEAL, by_id, parked, start
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Resolution, ResolutionAction, Stage


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path, http_timeout=2.5) as estate:
        yield estate


@pytest.mark.parametrize("spec", [USD_DEAL, JPY_DEAL, EUR_DEAL], ids=["USD", "JPY", "EUR"])
async def test_closed_deal_reaches_every_system_exactly_once_with_equal_totals(estate: Estate, spec: DealSpec) -> None:
    deal_id, handle = await start(estate, spec)
    result = await handle.result()

    assert result.outcome is Stage.COMPLETED
    ids = result.external_ids
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    avatax, crm = await estate.state("avatax"), await estate.state("salesforce")

    [invoice] = by_id(stripe["invoices"], "id", ids["invoice"])
    assert (invoice["status"], invoice["currency"]) == ("paid", spec.currency.lower())
    assert len(by_id(stripe["subscriptions"], "id", ids["subscription"])) == 1
    assert len([s for s in stripe["subscriptions"] if s["metadata"].get("deal_id") == deal_id]) == 1
    [erp_invoice] = by_id(netsuite["invoice"], "externalId", ids["invoice"])
    [erp_payment] = by_id(netsuite["customerPayment"], "externalId", ids["payment"])
    [tax_doc] = by_id(avatax["documents"], "code", ids["tax_document"])
    assert tax_doc["status"] == "Committed"

    totals = result.totals
    assert totals["total"] == totals["subtotal"] + totals["tax"] == totals["paid"] == invoice["amount_paid"]
    erp_total = Decimal(str(erp_invoice["total"]))
    assert erp_total.scaleb(2 if spec.currency != "JPY" else 0) == totals["total"]
    assert (erp_invoice["status"], erp_invoice["id"]) == ("Paid In Full", ids["erp_invoice"])
    assert Decimal(str(erp_payment["payment"])) == erp_total

    [account] = by_id(crm["Account"], "Id", ids["crm_account"])
    assert account["C2C_Golden_Id__c"] == ids["golden_customer"]
    assert account["Billing_Customer_Id__c"] == ids["billing_customer"]
    assert account["ERP_Customer_Id__c"] == ids["erp_customer"]
    with session_scope(estate.engine) as session:
        events = [e for e in OutboxRepository(session).pending(limit=1000) if e.correlationid == handle.id]
    assert [e.type.value for e in events] == [
        "customer.created",
        "subscription.activated",
        "tax.quoted",
        "invoice.issued",
        "invoice.posted",
        "invoice.sent",
        "payment.settled",
        "payment.applied",
    ]
    assert events[0].causationid == f"salesforce:{deal_id}:closed-won"
    assert [e.causationid for e in events[1:]] == [e.id for e in events[:-1]]  # each caused by the one before
    assert {e.businesskey for e in events} == {deal_id}
    assert [e.stage for e in (await estate.status(handle)).timeline if e.event == "entered"] == [
        Stage.ONBOARD,
        Stage.ACTIVATE,
        Stage.TAX,
        Stage.INVOICE,
        Stage.POST,
        Stage.SETTLE,
        Stage.APPLY,
        Stage.COMPLETED,
    ]
    # The saga's page in the Temporal UI says who and what, and, once completed, what each system holds.
    description = await handle.describe()
    summary = await description.static_summary()
    assert summary is not None
    assert spec.account.name in summary
    assert f"per {'year' if spec.billing_period == 'Annual' else 'month'}" in summary
    assert deal_id in (await description.static_details() or "")
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("**Completed**")
    assert ids["invoice"] in metadata.current_details


async def test_second_trigger_for_the_same_deal_is_a_no_op(estate: Estate) -> None:
    deal_id, handle = await start(estate, USD_DEAL)
    again = await estate.trigger.start(deal_id)
    assert (again.started, again.workflow_id) == (False, handle.id)
    await handle.result()
    after = await estate.trigger.start(deal_id)
    assert (after.started, after.detail) == (False, "saga already finished")
    stripe = await estate.state("stripe")
    assert len([s for s in stripe["subscriptions"] if s["metadata"].get("deal_id") == deal_id]) == 1


async def test_a_deal_whose_saga_ended_is_not_billed_again_after_temporal_forgot_it(estate: Estate) -> None:
    deal_id = await estate.closed_deal(USD_DEAL)
    workflow_id = ids.saga_id("salesforce", deal_id)
    with session_scope(estate.engine) as session:  # what the saga records when it ends
        SagaFactRepository(session).record(
            workflow_id=workflow_id,
            deal_id=deal_id,
            legal_entity="US01",
            currency="USD",
            total_minor=1,
            status="completed",
        )
    started = await estate.trigger.start(deal_id)  # Temporal has no such workflow (as after retention)
    assert (started.started, started.detail) == (False, "saga already finished")
    with pytest.raises(RPCError):
        await estate.client.get_workflow_handle(workflow_id).describe()


async def test_rejected_address_parks_saga_and_a_corrected_address_completes_it(estate: Estate) -> None:
    deal_id, handle = await start(estate, PARKED_DEAL)
    status = await parked(estate, handle)
    assert status.problem is not None
    assert (status.problem.stage, status.problem.system, status.problem.code) == (
        Stage.TAX,
        "avatax",
        "invalid_address",
    )
    assert "geocoded" in status.problem.message

    query = f"WorkflowId = '{handle.id}' AND {search_attributes.EXCEPTION.name} = 'invalid_address'"

    async def listed() -> list[Any]:
        return [wf async for wf in estate.client.list_workflows(query)]

    [found] = await eventually(listed)
    assert found.typed_search_attributes.get(search_attributes.STAGE) == Stage.NEEDS_ATTENTION.value
    assert found.typed_search_attributes.get(search_attributes.CURRENCY) == "USD"

    fix = Resolution(
        action=ResolutionAction.RETRY_WITH_ADDRESS, corrected_address=GOOD_ADDRESS, note="ops ticket 42", actor="ops"
    )
    await handle.execute_update(CustomerToCash.resolve, fix)
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    assert result.totals["tax"] > 0


async def test_cancelling_a_parked_saga_voids_and_cancels_what_it_created(estate: Estate) -> None:
    deal_id, handle = await start(estate, PARKED_DEAL)
    await parked(estate, handle)
    await handle.execute_update(
        CustomerToCash.resolve, Resolution(action=ResolutionAction.CANCEL, note="lost deal", actor="ops")
    )
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    stripe = await estate.state("stripe")
    [subscription] = by_id(stripe["subscriptions"], "id", result.external_ids["subscription"])
    assert subscription["status"] == "canceled"
    # Its first invoice (created with the subscription, still a draft when the saga parked at tax) is voided.
    invoices = [i for i in stripe["invoices"] if i.get("subscription") == subscription["id"]]
    assert [i["status"] for i in invoices] == ["void"]


async def test_request_cancellation_from_temporal_unwinds_a_parked_saga_like_the_cancel_decision(
    estate: Estate,
) -> None:
    """What the Temporal UI's "Request Cancellation" does: the same unwind, the saga leaves the finance queue and
    ends Canceled; finance's `cancel` afterwards is told it has ended (cancelled)."""
    deal_id, handle = await start(estate, PARKED_DEAL)
    await parked(estate, handle)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    status = await handle.query(CustomerToCash.status)
    assert status.stage is Stage.CANCELLED
    stripe = await estate.state("stripe")
    [subscription] = by_id(stripe["subscriptions"], "id", status.external_ids["subscription"])
    assert subscription["status"] == "canceled"
    invoices = [i for i in stripe["invoices"] if i.get("subscription") == subscription["id"]]
    assert [i["status"] for i in invoices] == ["void"]
    queue = await finance.list_sagas(estate.client, "salesforce", QueueFilter(stage=Stage.NEEDS_ATTENTION))
    assert handle.id not in [entry.workflow_id for entry in queue]
    with pytest.raises(SagaEnded, match=r"has ended \(cancelled\)"):
        await finance.cancel(estate.client, "salesforce", deal_id, actor="ops", note="again")


async def test_lost_responses_are_retried_without_duplicate_records(estate: Estate) -> None:
    # Each write happens, then the answer arrives after the client (2.5 s timeout) gave up.
    await estate.fault("stripe", method="POST", path_prefix="/v1/subscriptions", kind="delay_after", seconds=4.0)
    await estate.fault(
        "netsuite", method="PUT", path_prefix="/services/rest/record/v1/invoice", kind="delay_after", seconds=4.0
    )
    await estate.fault(
        "avatax", method="POST", path_prefix="/api/v2/transactions/createoradjust", kind="delay_after", seconds=4.0
    )
    deal_id, handle = await start(estate, USD_DEAL)
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    assert len([s for s in stripe["subscriptions"] if s["metadata"].get("deal_id") == deal_id]) == 1
    assert len(by_id(netsuite["invoice"], "externalId", result.external_ids["invoice"])) == 1
    history = await handle.fetch_history()
    failures = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
    retried = [
        e
        for e in history.events
        if e.HasField("activity_task_started_event_attributes") and e.activity_task_started_event_attributes.attempt > 1
    ]
    assert not failures  # retries happen inside one activity execution
    assert len(retried) >= 3  # ...and each lost response did cost a retry


async def test_vendor_outage_retries_then_succeeds(estate: Estate) -> None:
    await estate.fault(
        "stripe",
        method="POST",
        path_prefix="/v1/invoices",
        kind="status",
        status=503,
        times=2,
        body={"error": {"type": "api_error", "message": "maintenance"}},
    )
    _, handle = await start(estate, EUR_DEAL)
    assert (await handle.result()).outcome is Stage.COMPLETED


def test_workflow_id_is_the_business_id() -> None:
    assert ids.saga_id("salesforce", "0065g00000000001AAA") == "c2c:salesforce:0065g00000000001AAA"
