"""The worker's Prometheus endpoint: Temporal SDK metrics and the saga's business metrics, labelled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from observability import metrics
from operations import finance as control
from operations.client import connect
from settings import Settings
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.metrics import Sample, parse, total
from tests.support.polling import eventually
from tests.support.sagas import PARKED_DEAL, USD_DEAL
from tests.support.servers import free_port
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage


@pytest.fixture
async def metered(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[Estate, str]]:
    """The estate on a client whose runtime serves /metrics on a free port, as worker.py runs it."""
    settings = Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        metrics_host="127.0.0.1",
        metrics_port=free_port(),
        payload_keys_file=None,
    )
    client = await connect(settings, runtime=metrics.runtime(settings))
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path, client=client) as estate:
        yield estate, f"http://127.0.0.1:{settings.metrics_port}/metrics"


async def test_the_worker_serves_sdk_and_business_metrics_after_a_saga(
    metered: tuple[Estate, str], task_queue: str
) -> None:
    estate, url = metered
    completed = await estate.trigger.start(await estate.closed_deal(USD_DEAL))
    assert (
        await estate.client.get_workflow_handle_for(CustomerToCash.run, completed.workflow_id).result()
    ).outcome is (Stage.COMPLETED)
    parked_deal = await estate.closed_deal(PARKED_DEAL)
    parked = estate.client.get_workflow_handle_for(
        CustomerToCash.run, (await estate.trigger.start(parked_deal)).workflow_id
    )

    async def is_parked() -> bool:
        return (await estate.status(parked)).stage is Stage.NEEDS_ATTENTION

    await eventually(is_parked)
    await control.cancel(estate.client, "salesforce", parked_deal, actor="test", note="metrics test")
    assert (await parked.result()).outcome is Stage.CANCELLED

    async with httpx.AsyncClient() as http:

        async def scraped() -> list[Sample] | None:
            samples = parse((await http.get(url)).text)
            # Core exports on its own schedule: wait for the last thing the sagas did.
            return samples if total(samples, metrics.STAGE_ENTRIES, stage="cancelled") else None

        samples = await eventually(scraped)

    ours = {"task_queue": task_queue, "workflow_type": "CustomerToCash"}
    # Temporal SDK metrics from the same endpoint.
    assert total(samples, "temporal_workflow_completed", task_queue=task_queue) >= 2
    assert total(samples, "temporal_activity_execution_latency_count", task_queue=f"{task_queue}-billing") > 0
    # Sagas by stage: both went through onboard..tax; one went on to completed, the other parked and was cancelled.
    for stage, count in {
        "onboard": 2,
        "tax": 2,
        "apply": 1,
        "completed": 1,
        "needs_attention": 1,
        "cancelled": 1,
    }.items():
        assert total(samples, metrics.STAGE_ENTRIES, stage=stage, **ours) == count, stage
    assert total(samples, f"{metrics.STAGE_DURATION}_count", stage="settle", **ours) == 1
    assert total(samples, f"{metrics.STAGE_DURATION}_bucket", stage="onboard", le="+Inf", **ours) == 2
    # Exceptions by code, with the stage and the system that refused.
    assert total(samples, metrics.EXCEPTIONS, stage="tax", system="avatax", code="invalid_address", **ours) == 1
    assert total(samples, f"{metrics.SAGA_DURATION}_count", outcome="completed", **ours) == 1
    assert total(samples, f"{metrics.SAGA_DURATION}_count", outcome="cancelled", **ours) == 1
    assert total(samples, f"{metrics.INVOICE_POSTING_LATENCY}_count", **ours) == 1
    assert total(samples, metrics.PAYMENT_OUTCOMES, source="collect", outcome="succeeded", **ours) == 1
    assert total(samples, metrics.PAYMENT_APPLICATIONS, outcome="applied", **ours) == 1
