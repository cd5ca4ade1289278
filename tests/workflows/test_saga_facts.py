"""What a saga leaves in the store when it ends, also when it ends before it read its deal (real store, server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from estate.book import GLOBEX, DealSpec
from store import SagaFactRepository, session_scope
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Resolution, ResolutionAction, SagaInput, SagaStatus, Stage

DEAL = DealSpec("FACT-1", GLOBEX, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49.00"))])
SALESFORCE_400 = [{"message": "query refused (test)", "errorCode": "MALFORMED_QUERY"}]


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        yield estate


async def test_a_saga_cancelled_before_it_read_its_deal_ends_cancelled_and_leaves_its_fact(estate: Estate) -> None:
    deal_id = await estate.closed_deal(DEAL)
    # The CRM refuses every read of the deal: the saga parks at onboard knowing neither entity nor currency.
    await estate.fault(
        "salesforce",
        method="GET",
        path_prefix="/services/data",
        kind="status",
        status=400,
        body=SALESFORCE_400,
        times=50,
    )
    handle = await estate.client.start_workflow(
        CustomerToCash.run,
        SagaInput(deal_id=deal_id),
        id=ids.saga_id("salesforce", deal_id),
        task_queue=estate.settings.task_queue,
    )

    async def parked() -> SagaStatus | None:
        status = await estate.status(handle)
        return status if status.stage is Stage.NEEDS_ATTENTION else None

    status = await eventually(parked)
    assert status.problem is not None
    assert (status.problem.stage, status.currency) == (Stage.ONBOARD, None)
    await handle.execute_update(
        CustomerToCash.resolve, Resolution(action=ResolutionAction.CANCEL, actor="test", note="entered by mistake")
    )
    result = await handle.result()

    assert result.outcome is Stage.CANCELLED
    with session_scope(estate.engine) as session:
        fact = SagaFactRepository(session).get(handle.id)
        assert fact is not None
        assert (fact.status, fact.currency, fact.total_minor) == ("cancelled", "", 0)
        [totals] = SagaFactRepository(session).summary()
        assert (totals.status, totals.currency, totals.count, totals.total) == ("cancelled", "", 1, None)
    # Once the CRM answers again, a late trigger for the deal finds the fact and starts nothing.
    (await estate.http.delete(f"{estate.urls['salesforce']}/_sandbox/faults")).raise_for_status()
    started = await estate.trigger.start(deal_id)
    assert (started.started, started.detail) == (False, "saga already finished")
