"""`python worker.py`: run the c2c workers against `C2C_TEMPORAL_ADDRESS` until interrupted.

One process polls the workflow queue and one activity queue per external system
(`{queue}-crm`, `-billing`, `-tax`, `-erp`, `-hub`); scale by running more processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.erp import ErpActivities
from activities.hub import HubActivities
from activities.reconcile import reconcile_activities
from activities.tax import TaxActivities
from codec import data_converter
from connectors.factory import Connectors, build_connectors
from observability import metrics, setup_process
from observability.interceptor import SagaTelemetry
from observability.tracing import client_interceptors
from schedules import ensure_schedules
from settings import Settings, get_settings
from store import create_schema, make_engine
from workflows import interface
from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import Reconciliation
from workflows.sweep import MissedDealSweep


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
        (interface.CRM_QUEUE, CrmActivities(connectors.crm), settings.crm_rate_limit),
        (interface.BILLING_QUEUE, BillingActivities(connectors.billing), settings.billing_rate_limit),
        (interface.TAX_QUEUE, TaxActivities(connectors.tax), settings.tax_rate_limit),
        (interface.ERP_QUEUE, ErpActivities(connectors.erp), settings.erp_rate_limit),
        (interface.HUB_QUEUE, HubActivities(engine, client, task_queue), None),
    ]
    # Reading every system for the reconciler and the sweep, on the same per-system queues (and rate limits).
    readers = reconcile_activities(
        client,
        task_queue,
        connectors,
        engine,
        payment_terms_days=settings.payment_terms_days,
        dunning_days=settings.dunning_days,
    )
    # Business metrics, logs and the activities' correlation context; tracing comes with the client (connect).
    telemetry = [SagaTelemetry()]
    workflows = [CustomerToCash, CustomerMaster, Reconciliation, MissedDealSweep]
    workers = [Worker(client, task_queue=task_queue, workflows=workflows, interceptors=telemetry)]
    for suffix, activities, rate_limit in per_system:
        reader = readers.get(suffix)
        workers.append(
            Worker(
                client,
                task_queue=f"{task_queue}-{suffix}",
                activities=_methods(activities) + (_methods(reader) if reader is not None else []),
                max_task_queue_activities_per_second=rate_limit,
                interceptors=telemetry,
            )
        )
    return workers


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client for c2c: payload codec, tracing interceptor (workers made from it trace too); `runtime` carries
    the worker's Prometheus endpoint (None: the SDK's default runtime)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.encryption_keys()),
        interceptors=client_interceptors(),
        runtime=runtime,
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The runtime serving `/metrics`; a port already taken is logged and the worker runs on without metrics,
    since collecting cash matters more than counting it."""
    try:
        return metrics.runtime(settings)
    except Exception:  # noqa: BLE001 - the SDK reports a bind failure as a plain exception
        logging.getLogger("c2c.worker").exception(
            "metrics endpoint %s:%s unavailable; running without it", settings.metrics_host, settings.metrics_port
        )
        return None


async def connect_when_up(settings: Settings, runtime: Runtime | None, stop: asyncio.Event) -> Client:
    """Connect, waiting for the Temporal frontend if it is not up yet (a restart, or a cluster that starts after
    its workers): a worker that exits instead needs a supervisor to notice and start it again."""
    delay = 0.5
    while True:
        try:
            return await connect(settings, runtime=runtime)
        except RuntimeError as error:  # the SDK's bridge reports a refused connection as RuntimeError
            if stop.is_set():
                raise
            logging.getLogger("c2c.worker").warning(
                "Temporal at %s not reachable (%s); retrying in %.1fs", settings.temporal_address, error, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    runtime = metrics_runtime(settings)
    if runtime is not None:
        sys.stdout.write(f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics\n")
        sys.stdout.flush()
    client = await connect_when_up(settings, runtime, stop)
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    await ensure_schedules(client, settings)  # nightly reconciliation and the missed-deal sweep
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
    shutdown_telemetry = setup_process(settings, "worker")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(f"c2c worker on {settings.temporal_address}, queue {settings.task_queue}[-*]\n")
        sys.stdout.flush()
        await run_worker(settings, stop)

    asyncio.run(serve())
    shutdown_telemetry()  # flush spans still waiting for export: os._exit skips atexit handlers
    sys.stdout.flush()
    os._exit(0)  # see ARCHITECTURE.md pitfalls: avoid the interpreter-exit abort after a Temporal client


if __name__ == "__main__":
    main()
