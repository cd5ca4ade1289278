"""`python worker.py` as an operator runs it: /metrics on C2C_METRICS_PORT, JSON logs with the saga's context."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from connectors.factory import build_connectors
from connectors.salesforce import SalesforceCrm
from estate.book import DealSpec
from estate.deals import seed_deal
from observability import metrics
from settings import Settings
from tests.support.estate import all_emulators
from tests.support.metrics import parse, total
from tests.support.netsuite import worker_env
from tests.support.polling import eventually
from tests.support.sagas import USD_DEAL
from tests.support.servers import free_port
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaInput, Stage

ROOT = Path(__file__).resolve().parents[2]


async def test_a_worker_process_serves_metrics_and_writes_json_logs(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> None:
    urls = all_emulators(emulators)
    port = free_port()
    env = {
        **os.environ,
        "C2C_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "C2C_TASK_QUEUE": task_queue,
        "C2C_DATABASE_URL": f"sqlite:///{tmp_path}/c2c.db",
        "C2C_PAYLOAD_KEYS_FILE": "",
        "C2C_METRICS_PORT": str(port),
        "C2C_LOG_FORMAT": "json",
        "C2C_LOG_LEVEL": "INFO",
        **worker_env(),
        **{f"C2C_{name.upper()}_URL": url for name, url in urls.items()},
    }
    with (tmp_path / "worker.log").open("w+") as log:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            connectors = build_connectors(Settings(salesforce_url=urls["salesforce"]))
            assert isinstance(connectors.crm, SalesforceCrm)
            spec = DealSpec(**{**USD_DEAL.__dict__, "key": f"OBS-{task_queue}"})
            deal_id = await seed_deal(connectors.crm, spec, close=True)
            await connectors.close()
            handle = await temporal_env.client.start_workflow(
                CustomerToCash.run,
                SagaInput(deal_id=deal_id),
                id=ids.saga_id("salesforce", deal_id),
                task_queue=task_queue,
            )
            result = await asyncio.wait_for(handle.result(), timeout=120)  # a parked saga fails here, not at 300 s
            assert result.outcome is Stage.COMPLETED

            async with httpx.AsyncClient() as http:

                async def completed_counted() -> list[Any] | None:
                    try:
                        samples = parse((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
                    except httpx.TransportError:
                        return None
                    # The SDK counts the completion when the server has acknowledged it to the worker, which can be
                    # after the client has read the result: wait for both counters, then check they count once.
                    done = total(samples, "temporal_workflow_completed", task_queue=task_queue)
                    return samples if done and total(samples, metrics.STAGE_ENTRIES, stage="completed") else None

                samples = await eventually(completed_counted)
            # This saga's; the worker's own schedules (the missed-deal sweep every quarter hour) complete workflows
            # on the same queue when the test runs across one.
            completed = total(
                samples, "temporal_workflow_completed", task_queue=task_queue, workflow_type="CustomerToCash"
            )
            assert completed == 1
            assert total(samples, metrics.PAYMENT_APPLICATIONS, outcome="applied", task_queue=task_queue) == 1
        finally:
            worker.send_signal(signal.SIGTERM)
            status = worker.wait(timeout=30)
        log.seek(0)
        output = log.read()

    assert status == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    entered = {line.get("stage") for line in lines if line.get("correlation_id") == handle.id}
    assert {"onboard", "tax", "apply", "completed"} <= entered, output
