"""Fuzzing HubSpot's webhook (`POST /webhooks/hubspot`): forged, stale and malformed requests get a 400 naming the
header or field at fault, signed events about deals HubSpot does not have are acknowledged without a start; never a
5xx, and nothing reaches Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from connectors.hubspot.webhooks import signature
from sandbox.hubspot.access import CLIENT_SECRET
from sandbox.server import EMULATORS
from tests.support.fuzz_surface import Surface, serving
from tests.support.fuzzing import JSON_VALUES, TEXT, body_of, fuzzing, names_one_of, refused
from tests.support.hubspot import signed_webhook, stage_event

PATH = "/webhooks/hubspot"
URL = f"http://trigger.test{PATH}"
SIGNATURE, TIMESTAMP = "X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"
FIELDS = ["eventId", "portalId", "subscriptionType", "objectId", "occurredAt", "propertyName", "propertyValue"]


@pytest.fixture(scope="module")
async def surface(
    temporal_env: WorkflowEnvironment, emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Surface]:
    urls = {name: emulators.url(name) for name in EMULATORS}
    database = f"sqlite:///{tmp_path_factory.mktemp('hubspot-fuzz') / 'c2c.db'}"
    async with serving(temporal_env, urls, database, crm="hubspot", hubspot_url=urls["hubspot"]) as api:
        yield api
        await api.no_workflows_on_queue()


def headers_for(body: bytes, timestamp: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE: signature(CLIENT_SECRET, "POST", URL, body, timestamp),
        TIMESTAMP: timestamp,
    }


@given(
    signature_value=st.one_of(st.none(), TEXT.filter(lambda t: t.isascii())),
    timestamp=st.one_of(st.none(), TEXT.filter(lambda t: t.isascii())),
)
@fuzzing(150)
async def test_forged_headers_are_refused_naming_the_header(
    surface: Surface, signature_value: str | None, timestamp: str | None
) -> None:
    body = body_of([stage_event("123")])
    headers = {"Content-Type": "application/json"}
    if signature_value is not None:
        headers[SIGNATURE] = signature_value
    if timestamp is not None:
        headers[TIMESTAMP] = timestamp
    response = await surface.http.post(PATH, content=body, headers=headers)
    message = refused(response, [400])["message"]
    names_one_of(message, SIGNATURE, TIMESTAMP, "signature", "timestamp")
    await surface.nothing_changed()


@given(
    field=st.sampled_from(FIELDS),
    value=JSON_VALUES,
    remove=st.booleans(),
    wrap=st.sampled_from(["event", "body"]),
    event_id=st.integers(min_value=1, max_value=2**53),  # a fresh id, so no case is a mere duplicate
)
@fuzzing(300)
async def test_signed_events_with_broken_fields_never_start_anything(
    surface: Surface, field: str, value: Any, remove: bool, wrap: str, event_id: int
) -> None:
    """One field of a signed event removed or replaced by any JSON value, or the whole body replaced: a 400 naming
    the field, or an acknowledgement (the deal HubSpot does not have is refused, not started)."""
    event = stage_event("123456789", event_id=event_id)
    if wrap == "body":
        payload: Any = value
    elif remove:
        payload = [{k: v for k, v in event.items() if k != field}]
    else:
        payload = [event | {field: value}]
    body = body_of(payload)
    response = await surface.http.post(
        PATH, content=body, headers=headers_for(body, signed_webhook(URL, [])[1][TIMESTAMP])
    )
    assert response.status_code < 500, response.text
    if response.status_code == 400:
        names_one_of(response.json()["message"], field, "body", "event", "array", "JSON")
    else:
        assert response.status_code == 200, response.text
        assert all(e["status"] != "saga started" for e in response.json()["events"])
    await surface.nothing_changed()


async def test_a_hubspot_webhook_to_a_salesforce_deployment_is_refused(
    temporal_env: WorkflowEnvironment, emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    urls = {name: emulators.url(name) for name in EMULATORS}
    database = f"sqlite:///{tmp_path_factory.mktemp('salesforce') / 'c2c.db'}"
    async with serving(temporal_env, urls, database) as api:
        body, headers = signed_webhook(URL, [stage_event("123")])
        response = await api.http.post(PATH, content=body, headers=headers)
        assert (response.status_code, response.json()["error"]) == (404, "crm_not_configured")
        await api.nothing_changed()
