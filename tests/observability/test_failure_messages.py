"""With payload keys, a parked saga's failed step and a refused decision hold no PII in the raw history, yet say why.

The tax engine refuses an address and quotes it back (city, postal code); finance then sends a decision that does
not fit. In the history the failed step reads `BusinessRuleError avatax/invalid_address` (codes only) and the
vendor's text is ciphertext; the refusal reaches the caller readable, and its raw form (what the Temporal UI gets)
decodes through the trigger API's codec endpoint, as the UI asks for it, to the validator's message.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import Input, Meta, Request, WaitPolicy
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from codec import ENCODING, new_key
from estate.book import AccountSpec, DealSpec
from operations.client import connect
from settings import Settings
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.sagas import parked, start
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Resolution, ResolutionAction

RUN = uuid.uuid4().hex[:10]
# Postal code 00000 is the tax emulator's "cannot geocode"; its refusal quotes the city and postal code back.
CUSTOMER = AccountSpec(
    key="failprobe",
    name=f"Marrowgate Probe Ltd {RUN}",
    street=f"{RUN[:4]} Thistlewick Lane",
    city=f"Quillbury{RUN}",
    postal_code="00000",
    country="US",
    state="CA",
)
DEAL = DealSpec("FAIL-1", CUSTOMER, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])
KEYS = new_key("fail")
REFUSED = "the problem is invalid_address, not customer_ambiguous: use retry or cancel"


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    target = temporal_env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=target, payload_keys=KEYS, payload_keys_file=None))
    async with running_estate(
        temporal_env, all_emulators(emulators), task_queue, tmp_path, client=client, payload_keys=KEYS
    ) as estate:
        yield estate


async def ui_decode(estate: Estate, payload: Payload) -> dict[str, Any]:
    """POST /codec/decode as the Temporal UI sends a failure's `encodedAttributes`: the proto JSON of the payload
    (base64 metadata and data) alone in `payloads`; the UI parses the answer's data as JSON."""
    api = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
    assert estate.settings.api_token is not None
    headers = {
        "Authorization": f"Bearer {estate.settings.api_token.get_secret_value()}",
        "Origin": "http://localhost:8233",
        "X-Namespace": "default",
    }
    body = {"payloads": [json.loads(json_format.MessageToJson(payload))]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as http:
        response = await http.post("/codec/decode", json=body, headers=headers)
    assert response.status_code == 200, response.text
    [decoded] = response.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    result: dict[str, Any] = json.loads(base64.b64decode(decoded["data"]))
    return result


async def test_a_failed_step_and_a_refused_decision_say_why_without_pii_in_the_history(estate: Estate) -> None:
    _, handle = await start(estate, DEAL)
    status = await parked(estate, handle)
    assert status.problem is not None
    assert status.problem.code == "invalid_address"

    # Finance (a client with the key: CLI, API, starter.py) reads the validator's reason.
    wrong = Resolution(action=ResolutionAction.RETRY_WITH_CUSTOMER, golden_customer_id="G-1", actor="probe@finance")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CustomerToCash.resolve, wrong)
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.message == REFUSED
    assert refused.value.cause.type == "DecisionRefused"

    # What the server hands a caller without the key (the Temporal UI's view before it calls the codec endpoint):
    # the refusal's code in plaintext, its message sealed, decoded by the codec endpoint.
    request = UpdateWorkflowExecutionRequest(
        namespace=estate.client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=handle.id),
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
        ),
        request=Request(
            meta=Meta(update_id=str(uuid.uuid4()), identity="ui-probe"),
            input=Input(name="resolve", args=await estate.client.data_converter.encode_wrapper([wrong])),
        ),
    )
    answer = await estate.client.workflow_service.update_workflow_execution(request)
    failure = answer.outcome.failure
    assert failure.message == "DecisionRefused c2c/wrong_problem"
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert (await ui_decode(estate, failure.encoded_attributes))["message"] == REFUSED

    history = await handle.fetch_history()
    raw = history.to_json()
    for what, value in {
        "name": CUSTOMER.name,
        "street": CUSTOMER.street,
        "city": CUSTOMER.city,
        "vendor text": "cannot be geocoded",
    }.items():
        assert value not in raw, f"{what} in the workflow history"

    failed = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert failed, "the tax step failed"
    failure = failed[-1]
    assert failure.message == "BusinessRuleError avatax/invalid_address"
    assert failure.application_failure_info.type == "BusinessRuleError"
    decoded = await ui_decode(estate, failure.encoded_attributes)
    assert decoded["message"].startswith("avatax: invalid_address: ")
    assert CUSTOMER.city in decoded["message"]  # the vendor's own words, for whoever holds the key
    assert decoded["stack_trace"]
