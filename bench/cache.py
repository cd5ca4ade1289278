"""What the workflow cache (`C2C_WORKFLOW_CACHE`) trades: memory per cached SubscriptionLifecycle against the CPU of
rebuilding an evicted one. `python -m bench.cache` (≈ 1 min): N lifecycles started on a worker whose cache holds
them all, then on one whose cache holds `--small`; each run is queried in turn (an evicted run replays its history to
answer), and the worker process's RSS and CPU per query are printed for both. The lifecycles wait on their first
activity (no activity worker runs): their histories are short, so the figures are a floor."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from datetime import UTC, datetime

import psutil
import typer
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from canonical import Address, BillingPeriod, Customer, Deal, DealLine, Money
from codec import data_converter
from estate.processes import temporal_binary
from workflows import search_attributes
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import LifecycleInput


def _input(n: int) -> LifecycleInput:
    deal = Deal(
        crm="salesforce",
        deal_id=f"006CACHE{n:06d}",
        name="Bench — platform",
        stage="Closed Won",
        closed_won=True,
        close_date=datetime.now(UTC).date(),
        currency="USD",
        legal_entity="US01",
        term_months=12,
        billing_period=BillingPeriod.MONTH,
        customer=Customer(
            legal_name=f"Bench {n}",
            address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
            external_refs={"salesforce": f"001CACHE{n:06d}"},
        ),
        lines=[DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=Money(amount=4900, currency="USD"))],
    )
    return LifecycleInput(
        deal=deal,
        golden_id=f"g{n}",
        subscription_id=f"sub_{n}",
        billing_customer_id=f"cus_{n}",
        erp_customer_id=str(n),
        first_period_end=datetime.now(UTC),
    )


async def _measure(client: Client, lifecycles: int, cache: int) -> tuple[float, float, float]:
    """(RSS MB with the runs started, RSS MB after querying each, worker CPU ms per query) at `cache`."""
    process = psutil.Process()
    queue = f"cache-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SubscriptionLifecycle],
        max_cached_workflows=cache,
        workflow_runner=SandboxedWorkflowRunner(),
    ):
        handles: list[WorkflowHandle[SubscriptionLifecycle, object]] = [
            await client.start_workflow(SubscriptionLifecycle.run, _input(n), id=f"{queue}-{n}", task_queue=queue)
            for n in range(lifecycles)
        ]
        for handle in handles:  # each has run its first task (and waits on its first activity)
            await handle.query(SubscriptionLifecycle.status)
        gc.collect()
        started = process.memory_info().rss / 2**20
        gate = asyncio.Semaphore(8)

        async def ask(handle: WorkflowHandle[SubscriptionLifecycle, object]) -> None:
            async with gate:
                await handle.query(SubscriptionLifecycle.status)

        cpu = time.process_time()
        await asyncio.gather(*(ask(h) for h in handles))
        per_query = (time.process_time() - cpu) / lifecycles * 1000
        gc.collect()
        return started, process.memory_info().rss / 2**20, per_query


async def _run(lifecycles: int, small: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=data_converter(None),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    try:
        # The small cache first: memory the process has grown to stays grown, so the larger figure comes second.
        evicting = await _measure(env.client, lifecycles, small)
        full = await _measure(env.client, lifecycles, lifecycles)
    finally:
        await env.shutdown()
    print(f"{lifecycles} lifecycles, cache {lifecycles}: RSS {full[0]:.0f} MB, a query {full[2]:.1f} ms CPU (cached)")
    print(
        f"{lifecycles} lifecycles, cache {small}: RSS {evicting[0]:.0f} MB, a query {evicting[2]:.1f} ms CPU (replayed)"
    )
    print(
        f"per cached lifecycle {(full[0] - evicting[0]) / (lifecycles - small):.3f} MB; "
        f"an eviction costs {evicting[2] / full[2]:.1f}x a cached answer; "
        f"RSS after {lifecycles} replays at cache {small}: {evicting[1]:.0f} MB (from {evicting[0]:.0f})"
    )


def main(
    lifecycles: int = typer.Option(600, help="lifecycles started (each cached in the first run)"),
    small: int = typer.Option(20, help="the second run's cache: every query replays"),
) -> None:
    asyncio.run(_run(lifecycles, small))


if __name__ == "__main__":
    typer.run(main)
