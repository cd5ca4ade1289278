"""A HubSpot deal end to end: won in the HubSpot emulator, its signed webhooks v3 notification reaches the trigger
API over HTTP, and the saga `c2c:hubspot:{deal}` carries it through billing, tax and the ERP to cash, writing our
ids back to the HubSpot company and the contract onto the deal."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from tests.support.estate import all_emulators, running_estate
from tests.support.hubspot import hubspot_state, seed_deal, set_stage
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage


async def test_a_hubspot_deal_runs_through_the_saga_to_cash(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    urls = all_emulators(emulators)
    hubspot = urls["hubspot"]
    async with running_estate(temporal_env, urls, task_queue, tmp_path, crm="hubspot", hubspot_url=hubspot) as estate:
        app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        api_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            await eventually(lambda: asyncio.sleep(0, server.started))
            (
                await http.post(f"{hubspot}/_sandbox/webhooks", json={"url": f"{api_url}/webhooks/hubspot"})
            ).raise_for_status()
            seeded = await seed_deal(
                http, hubspot, company={"address": "500 5th Ave", "city": "New York", "state": "NY", "zip": "10110"}
            )
            await set_stage(http, hubspot, seeded.deal_id)  # HubSpot notifies the trigger API
            handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("hubspot", seeded.deal_id))

            async def described() -> Any:
                try:
                    return await handle.describe()
                except RPCError:
                    return None

            await eventually(described)
            result = await handle.result()
            assert result.outcome is Stage.COMPLETED
            state = await hubspot_state(http, hubspot)
            company = next(c for c in state["objects"]["companies"] if c["id"] == seeded.company_id)["properties"]
            assert company["c2c_golden_id"]
            assert company["c2c_billing_customer_id"].startswith("cus_")
            assert company["c2c_erp_customer_id"]
            deal = next(d for d in state["objects"]["deals"] if d["id"] == seeded.deal_id)["properties"]
            assert (deal["c2c_contract_status"], deal["c2c_contract_term_months"]) == ("Activated", "12")
            assert deal["c2c_subscription_id"].startswith("sub_")
            deliveries = [d for d in state["webhooks"] if d["objectId"] == seeded.deal_id]
            # one per stage the deal took (created in contractsent: acknowledged, ignored), each delivered once
            assert [(d["propertyValue"], d["delivered"], d["statusCode"]) for d in deliveries] == [
                ("contractsent", True, 200),
                ("closedwon", True, 200),
            ]
        finally:
            await http.post(f"{hubspot}/_sandbox/webhooks", json={"url": None})
            server.should_exit = True
            await serving
