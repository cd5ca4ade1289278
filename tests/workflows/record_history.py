"""`make history`: record the histories the replay test checks the workflow code against.

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
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sandbox.server import EMULATORS, build_app, serve_in_thread
from tests.harness import eventually, running_estate
from tests.workflows.test_customer_to_cash import GOOD_ADDRESS, PARKED_DEAL, USD_DEAL
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Resolution, ResolutionAction, Stage

HISTORIES = Path(__file__).parent / "histories"


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
                deal_id = await estate.closed_deal(USD_DEAL)
                started = await estate.trigger.start(deal_id)
                completed = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)
                await completed.result()

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
                recorded = (("completed", completed), ("parked_then_corrected", parked), ("compensated", cancelled))
                for name, handle in recorded:
                    history = await handle.fetch_history()
                    (HISTORIES / f"customer_to_cash_{name}.json").write_text(history.to_json())
    finally:
        await env.shutdown()
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    asyncio.run(record())
    sys.stdout.write(f"wrote histories to {HISTORIES}\n")
    sys.stdout.flush()
    os._exit(0)
