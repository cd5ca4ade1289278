"""One worker process: metrics endpoint, a client that waits for Temporal, the schedules, the workers until
stopped; `main` is `python worker.py`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from temporalio.client import Client
from temporalio.runtime import Runtime

from connectors.factory import build_connectors
from observability import metrics, setup_process
from operations.client import connect
from operations.schedules import ensure_schedules
from runtime.governance import govern_vendors
from runtime.publisher import OutboxPublisher, publisher_for
from runtime.workers import build_workers
from settings import Settings, get_settings
from store import create_schema, make_engine


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
    govern_vendors(connectors, engine, settings, runtime.metric_meter if runtime is not None else None)
    await ensure_schedules(client, settings)  # nightly reconciliation and the missed-deal sweep
    workers = build_workers(client, settings.task_queue, connectors, engine, settings)
    publisher: OutboxPublisher | None = publisher_for(settings, engine, runtime)
    try:
        runs = [asyncio.create_task(worker.run()) for worker in workers]
        if publisher is not None:  # the business events to NATS JetStream (one publisher leads at a time)
            runs.append(asyncio.create_task(publisher.run(stop)))
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
