"""With payload keys, the Temporal server only ever holds ciphertext; the UI's codec endpoint decodes it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from codec import ENCODING, data_converter, new_key
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.sagas import USD_DEAL
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage

KEYS = new_key("k1")


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    target = temporal_env.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=data_converter(KEYS))
    async with running_estate(
        temporal_env, all_emulators(emulators), task_queue, tmp_path, client=client, payload_keys=KEYS
    ) as estate:
        yield estate


async def test_saga_runs_encrypted_and_the_server_holds_no_customer_data(estate: Estate) -> None:
    deal_id = await estate.closed_deal(USD_DEAL)
    started = await estate.trigger.start(deal_id)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)
    assert (await handle.result()).outcome is Stage.COMPLETED

    history = await handle.fetch_history()
    raw = history.to_json()
    assert USD_DEAL.account.name not in raw
    assert USD_DEAL.account.street not in raw
    inputs = [
        p
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        for p in e.activity_task_scheduled_event_attributes.input.payloads
    ]
    assert inputs
    assert all(p.metadata["encoding"] == ENCODING for p in inputs)

    # Without the key, the same server answers with sealed data only.
    plain = await Client.connect(
        estate.client.service_client.config.target_host, data_converter=pydantic_data_converter
    )
    with pytest.raises(Exception, match="binary/encrypted"):
        await plain.get_workflow_handle(handle.id).query(CustomerToCash.status)

    # The Temporal UI decodes through the trigger API's codec endpoint (CORS for the UI's origin).
    api = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as http:
        body = json_format.MessageToJson(Payloads(payloads=inputs[:1]))
        assert estate.settings.api_token is not None
        token = {"Authorization": f"Bearer {estate.settings.api_token.get_secret_value()}"}
        origin = {"Origin": "http://localhost:8233", "X-Namespace": "default", **token}
        decoded = await http.post("/codec/decode", content=body, headers={**origin, "Content-Type": "application/json"})
        assert decoded.status_code == 200
        assert decoded.headers["access-control-allow-origin"] == "http://localhost:8233"
        [payload] = json_format.Parse(decoded.text, Payloads()).payloads
        assert json.loads(payload.data)["deal_id"] == deal_id
        preflight = await http.options(
            "/codec/decode",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-namespace",
            },
        )
        assert preflight.status_code == 200
        foreign = await http.post(
            "/codec/decode",
            content=body,
            headers={"Origin": "http://evil.test", **token, "Content-Type": "application/json"},
        )
        assert "access-control-allow-origin" not in foreign.headers
        garbage = await http.post(
            "/codec/decode", content=b"{not json", headers={**token, "Content-Type": "application/json"}
        )
        assert garbage.status_code == 400
