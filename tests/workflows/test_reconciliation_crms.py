"""Reconciliation with two CRMs side by side (C2C_CRMS=salesforce,hubspot): each CRM's run reconciles its own sagas'
records only. Billing holds both CRMs' subscriptions; a later period of the HubSpot deal's subscription (an invoice
its lifecycle `c2c:hubspot:{deal}:subscription` billed) that never reached the ERP is HubSpot's finding, and the
Salesforce run says nothing about it, and the other way round. Real sagas, emulators over HTTP, the dev server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from estate.book import ACME
from operations.starts import triggers_by_crm
from reconcile.compare import Mismatch, MismatchKind
from reconcile.outcome import Report
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.hubspot import seed_deal, set_stage
from tests.support.polling import next_whole_second
from tests.workflows.test_reconciliation import STRIPE_KEY, completed, deal
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import ReconcileInput, Reconciliation
from workflows.saga import SagaResult, Stage


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    urls = all_emulators(emulators)
    both = running_estate(
        temporal_env, urls, task_queue, tmp_path, crms="salesforce,hubspot", hubspot_url=urls["hubspot"]
    )
    async with both as estate:
        yield estate


async def completed_in_hubspot(estate: Estate, http: httpx.AsyncClient) -> tuple[str, SagaResult]:
    hubspot = estate.urls["hubspot"]
    seeded = await seed_deal(http, hubspot)
    await set_stage(http, hubspot, seeded.deal_id)
    trigger = triggers_by_crm(estate.trigger, estate.connectors.crms)["hubspot"]
    started = await trigger.start(seeded.deal_id)
    assert started.workflow_id == ids.saga_id("hubspot", seeded.deal_id)
    result = await estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id).result()
    assert result.outcome is Stage.COMPLETED
    return seeded.deal_id, result


async def later_period_not_in_erp(estate: Estate, crm: str, deal_id: str, result: SagaResult) -> str:
    """A later period's invoice on the deal's subscription, as its lifecycle marks one (`c2c_saga` = the lifecycle's
    workflow id), issued in billing and never posted to the ERP."""
    stripe, post = estate.urls["stripe"], estate.http.post
    form = {
        "customer": result.external_ids["billing_customer"],
        "subscription": result.external_ids["subscription"],
        "collection_method": "send_invoice",
        "days_until_due": "30",
        "pending_invoice_items_behavior": "exclude",
        "metadata[c2c_saga]": ids.subscription_id(crm, deal_id),
    }
    created = await post(f"{stripe}/v1/invoices", data=form, headers=STRIPE_KEY)
    assert created.status_code == 200, created.text
    invoice_id: str = created.json()["id"]
    item = {"customer": form["customer"], "invoice": invoice_id, "amount": "69900", "currency": "usd"}
    added = await post(f"{stripe}/v1/invoiceitems", data=item, headers=STRIPE_KEY)
    assert added.status_code == 200, added.text
    finalized = await post(f"{stripe}/v1/invoices/{invoice_id}/finalize", headers=STRIPE_KEY)
    assert finalized.status_code == 200, finalized.text
    return invoice_id


async def reconcile(estate: Estate, crm: str, since: datetime) -> Report:
    report: Report = await estate.client.execute_workflow(
        Reconciliation.run,
        # No in-flight allowance: the planted period was issued a moment ago and must be checked now.
        ReconcileInput(since=since, crm=crm, stuck_after=timedelta(0)),
        id=f"test-reconciliation-{crm}-{uuid.uuid4().hex[:8]}",
        task_queue=estate.settings.task_queue,
    )
    return report


def about(report: Report, deal_id: str, result: SagaResult, invoice_id: str) -> list[Mismatch]:
    """The report's mismatches about one deal: by deal, subscription or the planted invoice."""
    subscription = result.external_ids["subscription"]
    return [
        m
        for m in report.mismatches
        if m.deal_id == deal_id or m.subscription_id == subscription or m.invoice_id == invoice_id
    ]


async def test_each_crms_run_checks_its_own_sagas_later_periods_and_nothing_of_the_other_crm(
    estate: Estate, http: httpx.AsyncClient
) -> None:
    since = await next_whole_second()
    salesforce_deal, salesforce_result = await completed(estate, deal("REC-CRMS-1", ACME))
    hubspot_deal, hubspot_result = await completed_in_hubspot(estate, http)
    hubspot_invoice = await later_period_not_in_erp(estate, "hubspot", hubspot_deal, hubspot_result)
    salesforce_invoice = await later_period_not_in_erp(estate, "salesforce", salesforce_deal, salesforce_result)

    salesforce = await reconcile(estate, "salesforce", since)
    hubspot = await reconcile(estate, "hubspot", since)

    # The Salesforce run says nothing about the HubSpot deal, its subscription or its later period ...
    assert about(salesforce, hubspot_deal, hubspot_result, hubspot_invoice) == []
    # ... and finds its own deal's later period missing in the ERP, under the Salesforce lifecycle's id.
    [own] = about(salesforce, salesforce_deal, salesforce_result, salesforce_invoice)
    assert (own.kind, own.invoice_id, own.saga_id) == (
        MismatchKind.MISSING_IN_ERP,
        salesforce_invoice,
        ids.subscription_id("salesforce", salesforce_deal),
    )
    # The HubSpot run checks the HubSpot subscription's later period (and finds the planted gap), not Salesforce's.
    [found] = about(hubspot, hubspot_deal, hubspot_result, hubspot_invoice)
    assert (found.kind, found.deal_id, found.invoice_id, found.saga_id) == (
        MismatchKind.MISSING_IN_ERP,
        hubspot_deal,
        hubspot_invoice,
        ids.subscription_id("hubspot", hubspot_deal),
    )
    assert about(hubspot, salesforce_deal, salesforce_result, salesforce_invoice) == []
