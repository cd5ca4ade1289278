"""The saga estate of tests/harness.py with the reconciliation and sweep workflows and activities registered.

Uses `worker.build_workers` once worker.py registers them; until then it builds the same workers with them
added (what worker.build_workers is asked to do).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as worker_module
from activities import contracts
from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.erp import ErpActivities
from activities.hub import HubActivities
from activities.reconcile import reconcile_activities
from activities.tax import TaxActivities
from connectors.factory import Connectors, build_connectors
from settings import Settings
from store import create_schema, ensure_watermark_table, make_engine
from tests.harness import Estate, eventually
from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import Reconciliation
from workflows.sweep import MissedDealSweep


def _worker_registers_reconciliation() -> bool:
    """Whether worker.py wires reconciliation in (it then imports both workflows). A bridge worker per queue can
    be created only once, so build_workers is not called just to look."""
    return hasattr(worker_module, "Reconciliation") and hasattr(worker_module, "MissedDealSweep")


def workers_with_reconciliation(
    client: Client, task_queue: str, connectors: Connectors, engine: Engine, settings: Settings
) -> list[Worker]:
    if _worker_registers_reconciliation():
        return worker_module.build_workers(client, task_queue, connectors, engine, settings)
    extra = reconcile_activities(
        client,
        task_queue,
        connectors,
        engine,
        payment_terms_days=settings.payment_terms_days,
        dunning_days=settings.dunning_days,
    )
    per_system = [
        (contracts.CRM_QUEUE, CrmActivities(connectors.crm)),
        (contracts.BILLING_QUEUE, BillingActivities(connectors.billing)),
        (contracts.TAX_QUEUE, TaxActivities(connectors.tax)),
        (contracts.ERP_QUEUE, ErpActivities(connectors.erp)),
        (contracts.HUB_QUEUE, HubActivities(engine, client, task_queue)),
    ]
    workflows = [CustomerToCash, CustomerMaster, Reconciliation, MissedDealSweep]
    workers = [Worker(client, task_queue=task_queue, workflows=workflows)]
    for suffix, activities in per_system:
        methods = worker_module._methods(activities) + worker_module._methods(extra[suffix])
        workers.append(Worker(client, task_queue=f"{task_queue}-{suffix}", activities=methods))
    return workers


@asynccontextmanager
async def running_reconcile_estate(
    env: WorkflowEnvironment, emulator_urls: dict[str, str], task_queue: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[Estate]:
    """tests.harness.running_estate with reconciliation registered."""
    client = env.client
    settings = Settings(
        task_queue=task_queue,
        salesforce_url=emulator_urls["salesforce"],
        stripe_url=emulator_urls["stripe"],
        avatax_url=emulator_urls["avatax"],
        netsuite_url=emulator_urls["netsuite"],
        database_url=f"sqlite:///{tmp_path}/c2c.db",
        **{"payload_keys_file": None, **overrides},
    )
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    ensure_watermark_table(engine)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        for running in workers_with_reconciliation(client, task_queue, connectors, engine, settings):
            await stack.enter_async_context(running)
        try:
            yield Estate(client, settings, connectors, engine, emulator_urls, http, uuid.uuid4().hex[:8])
        finally:
            await connectors.close()
            engine.dispose()


async def next_whole_second() -> datetime:
    """The next whole second, once it has passed: everything saved before the call is older, everything saved
    after is not, even to a reader that rounds down to whole seconds (SOQL datetimes, Stripe `created`). Tests use it
    as the start of their window so deals other tests left in the session-wide CRM stay out of it."""
    boundary = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    async def passed() -> datetime | None:
        return boundary if datetime.now(UTC) >= boundary else None

    return await eventually(passed, timeout=2, every=0.02)
