"""Two CRMs side by side (C2C_CRMS=salesforce,hubspot): one worker estate and one trigger API complete a deal won in
Salesforce and a deal won in HubSpot, each webhook starting `c2c:{its crm}:{deal}` and each saga's CRM calls going
back to the CRM its deal came from; finance finds either saga by its deal id; bad input to either webhook starts
nothing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from estate.book import ACME, DealSpec
from operations.starts import triggers_by_crm
from tests.api.test_app import SECRET, closed_won_event, signed
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.hubspot import hubspot_state, seed_deal, set_stage, signed_webhook, stage_event
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage

DEAL = DealSpec("TWO-CRM-1", ACME, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49.00"))])


@asynccontextmanager
async def two_crm_api(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[Estate, str]]:
    """One estate serving both CRMs, its API on a free port, both CRMs' webhooks pointed at it."""
    urls = all_emulators(emulators)
    both = running_estate(
        temporal_env, urls, task_queue, tmp_path, crms="salesforce,hubspot", hubspot_url=urls["hubspot"]
    )
    async with both as estate:
        triggers = triggers_by_crm(estate.trigger, estate.connectors.crms)
        app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings, triggers=triggers)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        salesforce_admin, hubspot_admin = (
            f"{urls['salesforce']}/_sandbox/webhook",
            f"{urls['hubspot']}/_sandbox/webhooks",
        )
        try:
            await eventually(lambda: asyncio.sleep(0, server.started))
            await estate.http.post(salesforce_admin, json={"url": f"{url}/webhooks/salesforce", "secret": SECRET})
            (await estate.http.post(hubspot_admin, json={"url": f"{url}/webhooks/hubspot"})).raise_for_status()
            assert estate.settings.api_token is not None
            estate.http.headers["Authorization"] = f"Bearer {estate.settings.api_token.get_secret_value()}"
            yield estate, url
        finally:
            await estate.http.post(salesforce_admin, json={"url": None})
            await estate.http.post(hubspot_admin, json={"url": None})
            server.should_exit = True
            await serving


@pytest.fixture
async def api(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[Estate, str]]:
    async with two_crm_api(temporal_env, emulators, task_queue, tmp_path) as running:
        yield running


async def started(estate: Estate, workflow_id: str) -> Any:
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, workflow_id)

    async def described() -> Any:
        try:
            return await handle.describe()
        except RPCError:
            return None

    await eventually(described)
    return handle


async def no_saga(estate: Estate, workflow_id: str) -> None:
    with pytest.raises(RPCError, match="not found"):
        await estate.client.get_workflow_handle(workflow_id).describe()


async def test_one_deployment_completes_a_salesforce_deal_and_a_hubspot_deal(api: Any, http: httpx.AsyncClient) -> None:
    estate, url = api
    hubspot = estate.urls["hubspot"]
    salesforce_deal = await estate.closed_deal(DEAL)  # Salesforce posts its signed webhook
    seeded = await seed_deal(http, hubspot)
    await set_stage(http, hubspot, seeded.deal_id)  # HubSpot posts its webhooks v3 notification
    sagas = [ids.saga_id("salesforce", salesforce_deal), ids.saga_id("hubspot", seeded.deal_id)]
    handles = [await started(estate, saga) for saga in sagas]

    async def settled() -> list[Stage] | None:  # completed, or parked (a call that went to the wrong CRM parks)
        stages = [(await estate.status(handle)).stage for handle in handles]
        return stages if all(stage in (Stage.COMPLETED, Stage.NEEDS_ATTENTION) for stage in stages) else None

    assert await eventually(settled, timeout=120) == [Stage.COMPLETED, Stage.COMPLETED]
    # Each saga wrote our ids back to the CRM its deal came from, and only there.
    company = next(
        c for c in (await hubspot_state(http, hubspot))["objects"]["companies"] if c["id"] == seeded.company_id
    )
    assert company["properties"]["c2c_billing_customer_id"].startswith("cus_")
    salesforce_crm = estate.connectors.crms["salesforce"]
    account_id = (await estate.status(handles[0])).external_ids["crm_account"]
    [account] = await salesforce_crm.accounts([account_id], [])
    assert account.golden_id
    assert account.golden_id != company["properties"]["c2c_golden_id"]
    # Finance finds either saga by its deal id alone.
    for deal_id, saga in zip((salesforce_deal, seeded.deal_id), sagas, strict=True):
        shown = await estate.http.get(f"{url}/deals/{deal_id}")
        assert (shown.status_code, shown.json()["workflow_id"], shown.json()["stage"]) == (200, saga, "completed")
    listed = await estate.http.get(f"{url}/sagas", params={"stage": "completed", "limit": 1000})
    crm_of = {entry["workflow_id"]: entry["crm"] for entry in listed.json()}
    assert (crm_of.get(sagas[0]), crm_of.get(sagas[1])) == ("salesforce", "hubspot")
    # A start naming the CRM joins the finished saga of that CRM's deal; none starts under the other CRM.
    again = await estate.http.post(f"{url}/deals/{seeded.deal_id}/start", params={"crm": "hubspot"})
    assert (again.status_code, again.json()["workflow_id"], again.json()["started"]) == (202, sagas[1], False)


async def test_bad_input_to_either_webhook_starts_nothing(api: Any, http: httpx.AsyncClient) -> None:
    estate, url = api
    hubspot = estate.urls["hubspot"]
    await estate.http.post(f"{hubspot}/_sandbox/webhooks", json={"url": None})  # we send the events ourselves
    seeded = await seed_deal(http, hubspot)
    await set_stage(http, hubspot, seeded.deal_id)
    event = stage_event(seeded.deal_id, event_id=int(seeded.deal_id))
    body, headers = signed_webhook(f"{url}/webhooks/hubspot", [event], secret="not-the-apps-secret")
    refused = await estate.http.post(f"{url}/webhooks/hubspot", content=body, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_webhook")
    # A HubSpot deal id sent as a Salesforce closed-won event, signed: not a Salesforce id, refused unread.
    crossed = closed_won_event(seeded.deal_id, event_id=f"evt-cross-{seeded.deal_id}")
    wrong = await estate.http.post(f"{url}/webhooks/salesforce", content=crossed, headers=signed(crossed))
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_webhook")
    assert "recordId" in wrong.json()["message"]
    forged = closed_won_event(seeded.deal_id)
    unsigned = await estate.http.post(f"{url}/webhooks/salesforce", content=forged, headers=signed(forged, "whsec_x"))
    assert (unsigned.status_code, unsigned.json()["error"]) == (400, "invalid_webhook")
    unknown = await estate.http.post(f"{url}/deals/{seeded.deal_id}/start", params={"crm": "pipedrive"})
    assert (unknown.status_code, unknown.json()["error"]) == (422, "crm_not_configured")
    for crm in ("salesforce", "hubspot"):
        await no_saga(estate, ids.saga_id(crm, seeded.deal_id))
