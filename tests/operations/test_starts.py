"""Starting a deal's saga: the vendors of the deal's legal entity (Settings.vendors_for) travel in its input."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from canonical import Vendors
from estate.book import GLOBEX, MULLER, DealSpec
from tests.support.estate import Estate, all_emulators, running_estate
from workflows.saga import SagaInput

DE_VENDORS = Vendors(crm="hubspot", billing="chargebee", tax="avatax", erp="xero")


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        yield estate


async def started_input(estate: Estate, spec: DealSpec) -> SagaInput:
    """Start the deal's saga on a queue no worker polls, and read back the input the server recorded."""
    # Vendors no connector exists for yet (build_connectors refuses them in settings): only the names travel here.
    trigger = dataclasses.replace(
        estate.trigger,
        task_queue=f"{estate.settings.task_queue}-idle",
        vendors_for=lambda entity: DE_VENDORS if entity == "DE01" else Vendors(),
    )
    started = await trigger.start(await estate.closed_deal(spec))
    handle = estate.client.get_workflow_handle(started.workflow_id)
    try:
        history = await handle.fetch_history()
        payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
        [args] = await estate.client.data_converter.decode(payloads, [SagaInput])
        assert isinstance(args, SagaInput)
        return args
    finally:
        await handle.terminate("test: input read")


async def test_a_deal_of_an_entity_with_its_own_vendors_starts_a_saga_that_names_them(estate: Estate) -> None:
    args = await started_input(estate, DealSpec("VEND-DE", MULLER, "DE01", "EUR", [("PLAT-SEAT", 2, Decimal("45"))]))
    # The CRM is the one the deal came from, whatever the entity's configuration says.
    assert args.vendors == Vendors(crm="salesforce", billing="chargebee", tax="avatax", erp="xero")
    assert args.crm == "salesforce"


async def test_a_deal_of_an_entity_without_a_vendor_override_runs_on_the_default_estate(estate: Estate) -> None:
    args = await started_input(estate, DealSpec("VEND-US", GLOBEX, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49"))]))
    assert args.vendors == Vendors()
