"""`python worker.py`: run the c2c workers against `C2C_TEMPORAL_ADDRESS` until interrupted.

One process polls the workflow queue and one activity queue per external system
(`{queue}-crm`, `-billing`, `-tax`, `-erp`, `-hub`); scale by running more processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities import contracts
from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.erp import ErpActivities
from activities.hub import HubActivities
from activities.tax import TaxActivities
from codec import data_converter
from connectors.factory import Connectors, build_connectors
from settings import Settings, get_settings
from store import create_schema, make_engine
from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash


def _methods(instance: object) -> list:
    """The bound @activity.defn methods of an activities object."""
    return [
        getattr(instance, name)
        for name in dir(instance)
        if not name.startswith("_") and hasattr(getattr(type(instance), name, None), "__temporal_activity_definition")
    ]


def build_workers(
    client: Client, task_queue: str, connectors: Connectors, engine: Engine, settings: Settings
) -> list[Worker]:
    """The workers of one process: the saga queue plus one queue per system, each with its rate limit."""
    per_system = [
        (contracts.CRM_QUEUE, CrmActivities(connectors.crm), settings.crm_rate_limit),
        (contracts.BILLING_QUEUE, BillingActivities(connectors.billing), settings.billing_rate_limit),
        (contracts.TAX_QUEUE, TaxActivities(connectors.tax), settings.tax_rate_limit),
        (contracts.ERP_QUEUE, ErpActivities(connectors.erp), settings.erp_rate_limit),
        (contracts.HUB_QUEUE, HubActivities(engine, client, task_queue), None),
    ]
    workers = [Worker(client, task_queue=task_queue, workflows=[CustomerToCash, CustomerMaster])]
    for suffix, activities, rate_limit in per_system:
        workers.append(
            Worker(
                client,
                task_queue=f"{task_queue}-{suffix}",
                activities=_methods(activities),
                max_task_queue_activities_per_second=rate_limit,
            )
        )
    return workers


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.encryption_keys()),
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings)
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    workers = build_workers(client, settings.task_queue, connectors, engine, settings)
    try:
        runs = [asyncio.create_task(worker.run()) for worker in workers]
        await stop.wait()
        await asyncio.gather(*(worker.shutdown() for worker in workers))
        await asyncio.gather(*runs, return_exceptions=True)
    finally:
        await connectors.close()
        engine.dispose()


def main() -> None:
    settings = get_settings()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(f"c2c worker on {settings.temporal_address}, queue {settings.task_queue}[-*]\n")
        sys.stdout.flush()
        await run_worker(settings, stop)

    asyncio.run(serve())
    sys.stdout.flush()
    os._exit(0)  # see ARCHITECTURE.md pitfalls: avoid the interpreter-exit abort after a Temporal client


if __name__ == "__main__":
    main()
