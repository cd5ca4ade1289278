"""A HubSpot deal end to end: won in the HubSpot emulator, its signed webhooks v3 notification reaches the trigger
API over HTTP, and the saga `c2c:hubspot:{deal}` carries it through billing, tax and the ERP to cash, writing our
ids back to the HubSpot company and the contract onto the deal; then the company moves, and its
`company.propertyChange` notifications bring the new address to billing through the customer's CustomerMaster."""

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
from tests.support.hubspot import AUTH, hubspot_state, seed_deal, set_stage
from tests.support.polling import eventually
from workflows.customer_master import CustomerMaster
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

            async def contract() -> dict[str, Any] | None:  # the subscription's lifecycle writes it after the saga
                deals = (await hubspot_state(http, hubspot))["objects"]["deals"]
                found: dict[str, Any] = next(d for d in deals if d["id"] == seeded.deal_id)["properties"]
                return found if found.get("c2c_contract_status") else None

            deal = await eventually(contract)
            assert (deal["c2c_contract_status"], deal["c2c_contract_term_months"]) == ("Activated", "12")
            assert deal["c2c_subscription_id"].startswith("sub_")
            deliveries = [d for d in state["webhooks"] if d["objectId"] == seeded.deal_id]
            # one per stage the deal took (created in contractsent: acknowledged, ignored), each delivered once
            assert [(d["propertyValue"], d["delivered"], d["statusCode"]) for d in deliveries] == [
                ("contractsent", True, 200),
                ("closedwon", True, 200),
            ]
            # The customer moves: HubSpot's company.propertyChange reaches its CustomerMaster, which pushes the
            # company as HubSpot has it now to billing and the ERP.
            move = {"properties": {"address": "1 Main St", "city": "Brooklyn", "zip": "11201"}}
            path = f"{hubspot}/crm/v3/objects/companies/{seeded.company_id}"
            (await http.patch(path, json=move, headers=AUTH)).raise_for_status()
            stripe_customer = f"{urls['stripe']}/v1/customers/{company['c2c_billing_customer_id']}"
            key = {"Authorization": f"Bearer {estate.settings.stripe_api_key.get_secret_value()}"}

            master = estate.client.get_workflow_handle_for(CustomerMaster.run, ids.master_id(company["c2c_golden_id"]))

            async def applied() -> list[Any]:
                events = {f"{d['portalId']}:{d['eventId']}" for d in (await hubspot_state(http, hubspot))["webhooks"]}
                recent = (await master.query(CustomerMaster.status)).recent
                return [e for e in recent if e.event_id in events and e.outcome.startswith("applied")]

            await eventually(applied)
            assert (await http.get(stripe_customer, headers=key)).json()["address"]["city"] == "Brooklyn"
            changes = [
                d for d in (await hubspot_state(http, hubspot))["webhooks"] if d["objectId"] == seeded.company_id
            ]
            assert sorted(d["propertyName"] for d in changes) == ["address", "city", "zip"]
            assert all(d["statusCode"] == 200 for d in changes)
        finally:
            await http.post(f"{hubspot}/_sandbox/webhooks", json={"url": None})
            server.should_exit = True
            await serving
