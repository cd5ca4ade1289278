"""The Reconciliation workflow against real sagas: emulators over HTTP, the Temporal dev server, a SQLite store.

Real sagas run first; then each kind of mismatch is planted on purpose through the vendors' own APIs (what a
person or a bug elsewhere could do), and the reconciler must name each one with its kind and deal. The window
starts when the test starts, so deals of other tests in the session-wide emulators stay out of it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canonical import ids
from connectors.kit import encode_json
from estate.book import ACME, BERLIN, GLOBEX, HOOLI, INITECH, MULLER, PARIS, UMBRELLA, AccountSpec, DealSpec
from reconcile.compare import Mismatch, MismatchKind, RepairAction
from reconcile.outcome import Report
from store import SagaFactRepository, session_scope
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.netsuite import access_token
from tests.support.polling import eventually, next_whole_second
from tests.support.temporal import BUILD_ID
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import ReconcileInput, Reconciliation
from workflows.saga import SagaResult, Stage

STRIPE_KEY = {"Authorization": "Bearer sk_test_c2c_sandbox"}


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        yield estate


@pytest.fixture
async def window_start(estate: Estate) -> datetime:
    """Set up after the estate, so the previous test's deals are all older (see next_whole_second)."""
    return await next_whole_second()


def deal(key: str, account: AccountSpec, entity: str = "US01", currency: str = "USD") -> DealSpec:
    price = {"USD": Decimal("49.00"), "EUR": Decimal("45.00"), "JPY": Decimal("7200")}[currency]
    return DealSpec(key, account, entity, currency, [("PLAT-SEAT", 10, price), ("ANALYTICS", 1, price * 4)])


async def completed(estate: Estate, spec: DealSpec) -> tuple[str, SagaResult]:
    deal_id = await estate.closed_deal(spec)
    started = await estate.trigger.start(deal_id)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)
    result = await handle.result()
    assert result.outcome is Stage.COMPLETED
    return deal_id, result


async def reconcile(estate: Estate, since: datetime, *, repair: bool = False) -> Report:
    report: Report = await estate.client.execute_workflow(
        Reconciliation.run,
        ReconcileInput(since=since, repair=repair),
        id=f"test-reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=estate.settings.task_queue,
    )
    return report


def ours(report: Report, deal_ids: set[str]) -> list[Mismatch]:
    """The report's mismatches about this test's deals (and those naming no deal). The session's emulators also hold
    other tests' subscriptions, whose later periods and CRM contracts the reconciler checks whatever their deal's
    age (the lifecycle tests leave some terminated halfway on purpose): this test answers for its own deals."""
    return [m for m in report.mismatches if m.deal_id is None or m.deal_id in deal_ids]


def found(report: Report, deal_ids: set[str]) -> set[tuple[MismatchKind, str | None]]:
    return {(m.kind, m.deal_id) for m in ours(report, deal_ids)}


async def test_a_clean_estate_reconciles_without_mismatches(estate: Estate, window_start: datetime) -> None:
    done = await asyncio.gather(
        completed(estate, deal("REC-CLEAN-1", ACME)), completed(estate, deal("REC-CLEAN-2", MULLER, "DE01", "EUR"))
    )
    report = await reconcile(estate, window_start)

    assert ours(report, {deal_id for deal_id, _ in done}) == []
    assert (report.counts.deals, report.counts.sagas) == (2, {"completed": 2})
    kpis = report.kpis
    assert (kpis.payment_application.numerator, kpis.payment_application.denominator) == (2, 2)
    assert (kpis.customer_master_sync.numerator, kpis.customer_master_sync.denominator) == (2, 2)
    assert kpis.invoice_posting_latency.samples == 2
    assert kpis.invoice_posting_latency.p95_seconds is not None
    assert kpis.invoice_posting_latency.p95_seconds < 60
    # No publisher runs in this estate (no C2C_NATS_URL): the report shows the events waiting in the outbox.
    assert kpis.events is not None
    assert kpis.events.pending >= 2 * 5  # at least customer, subscription, invoice, payment, applied per deal
    assert kpis.events.oldest_seconds is not None


# ---- planting mismatches through the vendors' APIs -----------------------------------------------------------


async def netsuite_patch(estate: Estate, record: str, internal_id: str, body: dict[str, Any], **params: str) -> None:
    token = await access_token(estate.http, estate.urls["netsuite"])
    response = await estate.http.patch(
        f"{estate.urls['netsuite']}/services/rest/record/v1/{record}/{internal_id}",
        content=encode_json(body),  # amounts as exact JSON numbers
        params=params,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 204, response.text


async def change_quantity(estate: Estate, deal_id: str) -> None:
    """Sales edits the deal after the saga billed it: the CRM amount no longer matches billing."""
    [line] = await estate.crm.query(f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{deal_id}' LIMIT 1")
    await estate.crm.update("OpportunityLineItem", line["Id"], {"Quantity": 11})


async def unlink_erp_invoice(estate: Estate, result: SagaResult) -> None:
    """Someone re-keys the ERP invoice: the billing invoice no longer finds its ERP invoice."""
    await netsuite_patch(estate, "invoice", result.external_ids["erp_invoice"], {"externalId": "re-keyed-by-hand"})


async def unapply_payment(estate: Estate, result: SagaResult) -> None:
    """The ERP payment is edited to apply one cent: the rest of the money is unapplied."""
    line = {"doc": {"id": result.external_ids["erp_invoice"]}, "apply": True, "amount": Decimal("0.01")}
    await netsuite_patch(
        estate, "customerPayment", result.external_ids["erp_payment"], {"apply": {"items": [line]}}, replace="apply"
    )


async def void_tax_document(estate: Estate, result: SagaResult) -> None:
    assert result.legal_entity is not None
    await estate.connectors.tax.void(result.legal_entity, result.external_ids["tax_document"])


async def second_subscription(estate: Estate, deal_id: str, result: SagaResult) -> None:
    """A second subscription for the same deal, created by hand in billing."""
    stripe = estate.urls["stripe"]
    first = (
        await estate.http.get(f"{stripe}/v1/subscriptions/{result.external_ids['subscription']}", headers=STRIPE_KEY)
    ).json()
    form = {
        "customer": result.external_ids["billing_customer"],
        "items[0][price]": first["items"]["data"][0]["price"]["id"],
        "collection_method": "send_invoice",
        "days_until_due": "1",
        "metadata[deal_id]": deal_id,
    }
    response = await estate.http.post(f"{stripe}/v1/subscriptions", data=form, headers=STRIPE_KEY)
    assert response.status_code == 200, response.text


async def rename_billing_customer(estate: Estate, result: SagaResult) -> None:
    stripe, customer = estate.urls["stripe"], result.external_ids["billing_customer"]
    response = await estate.http.post(
        f"{stripe}/v1/customers/{customer}", data={"name": "Renamed By Hand"}, headers=STRIPE_KEY
    )
    assert response.status_code == 200, response.text


def record_completed_fact(estate: Estate, deal_id: str) -> None:
    """The store says the deal's saga completed (Temporal forgot it), yet billing has nothing for it."""
    with session_scope(estate.engine) as session:
        SagaFactRepository(session).record(
            workflow_id=ids.saga_id("salesforce", deal_id),
            deal_id=deal_id,
            legal_entity="US01",
            currency="USD",
            total_minor=1,
            status="completed",
        )


# ---- a saga parked because a vendor stayed down (a stand-in with the saga's type, signal and attributes) ----


@workflow.defn(name="CustomerToCash", sandboxed=False)
class ParkedUnavailable:
    """Parked as `unavailable` until the `resume` signal, then completed: what the reconciler sees and drives."""

    def __init__(self) -> None:
        self.resumed = False

    @workflow.run
    async def run(self, deal_id: str) -> str:
        await workflow.wait_condition(lambda: self.resumed)
        workflow.upsert_search_attributes(
            [search_attributes.STAGE.value_set(Stage.COMPLETED.value), search_attributes.EXCEPTION.value_unset()]
        )
        return deal_id

    @workflow.signal
    def resume(self, request: Any = None) -> None:
        self.resumed = True


async def park_unavailable(estate: Estate, deal_id: str) -> WorkflowHandle[Any, Any]:
    handle = await estate.client.start_workflow(
        ParkedUnavailable.run,
        deal_id,
        id=ids.saga_id("salesforce", deal_id),
        task_queue=f"{estate.settings.task_queue}-parked",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search_attributes.STAGE, Stage.NEEDS_ATTENTION.value),
                SearchAttributePair(search_attributes.EXCEPTION, "unavailable"),
            ]
        ),
    )
    return handle


@pytest.fixture
async def parked_worker(estate: Estate) -> AsyncIterator[None]:
    async with Worker(
        estate.client,
        build_id=BUILD_ID,
        task_queue=f"{estate.settings.task_queue}-parked",
        workflows=[ParkedUnavailable],
    ):
        yield


async def test_each_planted_mismatch_is_found_with_its_kind_and_deal(
    estate: Estate, window_start: datetime, parked_worker: None
) -> None:
    specs = {
        "amount": deal("REC-AMOUNT", ACME),
        "erp": deal("REC-ERP", GLOBEX),
        "payment": deal("REC-PAY", INITECH),
        "tax": deal("REC-TAX", UMBRELLA),
        "duplicate": deal("REC-DUP", HOOLI, "US01", "JPY"),
    }
    done = dict(zip(specs, await asyncio.gather(*(completed(estate, spec) for spec in specs.values())), strict=True))
    no_saga = await estate.closed_deal(deal("REC-NOSAGA", MULLER, "DE01", "EUR"))
    only_in_store = await estate.closed_deal(deal("REC-STORE", BERLIN, "DE01", "EUR"))
    parked = await estate.closed_deal(deal("REC-PARKED", PARIS, "DE01", "EUR"))
    record_completed_fact(estate, only_in_store)
    await park_unavailable(estate, parked)

    await change_quantity(estate, done["amount"][0])
    await unlink_erp_invoice(estate, done["erp"][1])
    await unapply_payment(estate, done["payment"][1])
    await void_tax_document(estate, done["tax"][1])
    await second_subscription(estate, *done["duplicate"])
    await rename_billing_customer(estate, done["erp"][1])

    report = await reconcile(estate, window_start)

    mine = {deal_id for deal_id, _ in done.values()} | {no_saga, only_in_store, parked}
    assert found(report, mine) == {
        (MismatchKind.AMOUNT_DIFFERS, done["amount"][0]),
        (MismatchKind.MISSING_IN_ERP, done["erp"][0]),
        (MismatchKind.PAYMENT_UNAPPLIED, done["payment"][0]),
        (MismatchKind.MISSING_TAX_DOCUMENT, done["tax"][0]),
        (MismatchKind.DUPLICATE, done["duplicate"][0]),
        (MismatchKind.MISSING_SAGA, no_saga),
        (MismatchKind.MISSING_IN_BILLING, only_in_store),
        (MismatchKind.STUCK, parked),
    }
    systems = {m.kind: m.system for m in ours(report, mine)}
    assert systems[MismatchKind.AMOUNT_DIFFERS] == "stripe"  # billing no longer bills what the CRM says
    assert systems[MismatchKind.DUPLICATE] == "stripe"
    assert systems[MismatchKind.MISSING_TAX_DOCUMENT] == "avatax"  # US01's configured tax engine
    assert {m.deal_id: m.saga_id for m in report.mismatches}[no_saga] == ids.saga_id("salesforce", no_saga)
    repairable = {(m.kind, m.repair) for m in ours(report, mine) if m.repair}
    assert repairable == {
        (MismatchKind.MISSING_SAGA, RepairAction.START_SAGA),
        (MismatchKind.STUCK, RepairAction.RESUME_SAGA),
    }
    assert report.repairs == []  # not asked to repair
    sync = report.kpis.customer_master_sync
    assert [d.fields for d in sync.disagreeing] == [["name"]]
    assert sync.denominator == 5  # the golden customers of the deals that were onboarded


async def test_repair_starts_the_missing_saga_and_resumes_the_parked_one_only(
    estate: Estate, window_start: datetime, parked_worker: None
) -> None:
    no_saga = await estate.closed_deal(deal("REC-REPAIR-NOSAGA", ACME))
    parked = await estate.closed_deal(deal("REC-REPAIR-PARKED", GLOBEX))
    parked_handle = await park_unavailable(estate, parked)

    report = await reconcile(estate, window_start, repair=True)

    mine = {no_saga, parked}
    assert found(report, mine) == {(MismatchKind.MISSING_SAGA, no_saga), (MismatchKind.STUCK, parked)}
    assert {(r.deal_id, r.action, r.ok) for r in report.repairs} == {
        (no_saga, RepairAction.START_SAGA, True),
        (parked, RepairAction.RESUME_SAGA, True),
    }
    assert await parked_handle.result() == parked
    started = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", no_saga))
    assert (await started.result()).outcome is Stage.COMPLETED

    # Once repaired there is nothing left to repair (the stand-in completed without billing anything, which
    # is reported but never repaired); the stage the stand-in set reaches visibility eventually.
    async def nothing_to_repair() -> Report | None:
        again = await reconcile(estate, window_start, repair=True)
        return again if not again.repairs else None

    again = await eventually(nothing_to_repair, timeout=20, every=0.5)
    assert found(again, mine) == {(MismatchKind.MISSING_IN_BILLING, parked)}
    assert again.counts.sagas == {"completed": 2}


async def test_a_refund_made_in_billing_only_is_found_when_each_entitys_erp_is_read(
    estate: Estate, window_start: datetime
) -> None:
    """With the entity map (as the schedule and the demo pass it) the ERPs are read one by one and merged: the
    merge must keep their refunds, or no refund is ever reconciled (it dropped them once)."""
    deal_id, result = await completed(estate, deal("REC-REFUND", GLOBEX))
    stripe = estate.urls["stripe"]
    invoice = await estate.http.get(f"{stripe}/v1/invoices/{result.external_ids['invoice']}", headers=STRIPE_KEY)
    refund = await estate.http.post(
        f"{stripe}/v1/refunds", data={"payment_intent": invoice.json()["payment_intent"]}, headers=STRIPE_KEY
    )
    refund.raise_for_status()  # no trigger API listens here: billing's webhook never reaches the ERP
    report: Report = await estate.client.execute_workflow(
        Reconciliation.run,
        ReconcileInput(
            since=window_start, vendors_by_entity=estate.settings.every_entitys_vendors(), stuck_after=timedelta(0)
        ),
        id=f"test-reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=estate.settings.task_queue,
    )
    assert (MismatchKind.MISSING_REFUND_IN_ERP, deal_id) in found(report, {deal_id})
