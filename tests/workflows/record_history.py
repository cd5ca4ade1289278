"""`make history`: record the histories the replay test checks the workflow code against.

One estate runs three sagas (completed, parked then corrected, compensated), then a reconciliation and a
missed-deal sweep over them; the completed saga's onboarding also drives its customer's CustomerMaster.

Run it after a deliberate, versioned change to the saga's commands; a replay failure without one means
the change would break running sagas (non-determinism).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from canonical import ids
from sandbox.server import EMULATORS, build_app
from tests.support.estate import running_estate
from tests.support.histories import HISTORY_DIR
from tests.support.polling import eventually
from tests.support.sagas import GOOD_ADDRESS, PARKED_DEAL, USD_DEAL
from tests.support.servers import serve_in_thread
from workflows import search_attributes
from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import ReconcileInput, Reconciliation
from workflows.saga import Resolution, ResolutionAction, Stage
from workflows.sweep import MissedDealSweep, SweepInput


def window_start() -> datetime:
    """A moment just before the first deal closes: the reconciliation's window starts here."""
    return datetime.now(UTC) - timedelta(minutes=1)


async def record() -> None:
    servers = {name: serve_in_thread(build_app(name)) for name in EMULATORS}
    temporal = shutil.which("temporal", path=os.path.dirname(sys.executable))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        ui=False,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls = {name: server.url for name, server in servers.items()}
            async with running_estate(env, urls, "record-history", Path(tmp)) as estate:
                since = window_start()
                deal_id = await estate.closed_deal(USD_DEAL)
                started = await estate.trigger.start(deal_id)
                completed = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)
                golden_id = (await completed.result()).external_ids["golden_customer"]
                master = estate.client.get_workflow_handle_for(CustomerMaster.run, ids.master_id(golden_id))

                async def master_applied() -> bool:
                    return (await master.query(CustomerMaster.status)).applied_total >= 1

                await eventually(master_applied)

                deal_id = await estate.closed_deal(PARKED_DEAL)
                started = await estate.trigger.start(deal_id)
                parked = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)

                async def is_parked() -> bool:
                    return (await parked.query(CustomerToCash.status)).stage is Stage.NEEDS_ATTENTION

                await eventually(is_parked)
                fix = Resolution(
                    action=ResolutionAction.RETRY_WITH_ADDRESS, corrected_address=GOOD_ADDRESS, actor="recorder"
                )
                await parked.execute_update(CustomerToCash.resolve, fix)
                await parked.result()

                # Parked after invoicing (the ERP refuses the invoice), then cancelled: a compensated saga.
                await estate.fault(
                    "netsuite", method="PUT", path_prefix="/services/rest/record/v1/invoice", kind="status", status=400
                )
                deal_id = await estate.closed_deal(replace(USD_DEAL, key=f"{USD_DEAL.key}-CANCEL"))
                started = await estate.trigger.start(deal_id)
                cancelled = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)

                async def cancelled_parked() -> bool:
                    return (await cancelled.query(CustomerToCash.status)).stage is Stage.NEEDS_ATTENTION

                await eventually(cancelled_parked)
                cancel = Resolution(action=ResolutionAction.CANCEL, note="recorded cancel", actor="recorder")
                await cancelled.execute_update(CustomerToCash.resolve, cancel)
                await cancelled.result()

                reconciliation = await estate.client.start_workflow(
                    Reconciliation.run,
                    ReconcileInput(since=since, repair=True),
                    id="record-history-reconciliation",
                    task_queue=estate.settings.task_queue,
                )
                await reconciliation.result()
                sweep = await estate.client.start_workflow(
                    MissedDealSweep.run,
                    SweepInput(),
                    id="record-history-sweep",
                    task_queue=estate.settings.task_queue,
                )
                await sweep.result()

                recorded: tuple[tuple[str, WorkflowHandle[Any, Any]], ...] = (
                    ("customer_to_cash_completed", completed),
                    ("customer_to_cash_parked_then_corrected", parked),
                    ("customer_to_cash_compensated", cancelled),
                    ("customer_master_onboarding_sync", master),
                    ("reconciliation_with_repair", reconciliation),
                    ("missed_deal_sweep_finds_existing_sagas", sweep),
                )
                for name, handle in recorded:
                    history = await handle.fetch_history()
                    (HISTORY_DIR / f"{name}.json").write_text(history.to_json())
    finally:
        await env.shutdown()
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    asyncio.run(record())
    sys.stdout.write(f"wrote histories to {HISTORY_DIR}\n")
    sys.stdout.flush()
    os._exit(0)
