"""`POST /webhooks/hubspot` in the trigger API (in-process, around the session's Temporal server and emulators):
a signed stage change to a won stage starts `c2c:hubspot:{deal}` once; other events are acknowledged and ignored;
bad input is a 400 naming the problem and starts nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sandbox.server import EMULATORS
from tests.support.fuzz_surface import Surface, serving
from tests.support.hubspot import seed_deal, set_stage, signed_webhook, stage_event

PATH = "/webhooks/hubspot"
URL = f"http://trigger.test{PATH}"  # the URL the in-process API is called at: what HubSpot signs


@pytest.fixture(scope="module")
async def surface(
    temporal_env: WorkflowEnvironment, emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Surface]:
    urls = {name: emulators.url(name) for name in EMULATORS}
    database = f"sqlite:///{tmp_path_factory.mktemp('hubspot') / 'c2c.db'}"
    async with serving(temporal_env, urls, database, crm="hubspot", hubspot_url=urls["hubspot"]) as api:
        yield api


@pytest.fixture
def hubspot(surface: Surface) -> str:
    surface.recorder.clear()
    return surface.urls["hubspot"]


async def post(surface: Surface, events: Any, **signing: Any) -> httpx.Response:
    body, headers = signed_webhook(URL, events, **signing)
    return await surface.http.post(PATH, content=body, headers=headers)


async def test_a_won_deal_starts_its_saga_once(surface: Surface, hubspot: str, http: httpx.AsyncClient) -> None:
    seeded = await seed_deal(http, hubspot)
    await set_stage(http, hubspot, seeded.deal_id)
    event = stage_event(seeded.deal_id, event_id=int(seeded.deal_id))
    first = await post(surface, [event])
    assert first.status_code == 200, first.text
    [result] = first.json()["events"]
    assert (result["workflow_id"], result["status"]) == (f"c2c:hubspot:{seeded.deal_id}", "saga started")
    again = await post(surface, [event | {"attemptNumber": 1}])  # HubSpot's redelivery: same eventId
    assert again.json()["events"][0]["status"] == "duplicate"
    starts = [sent for sent in surface.recorder.sent if sent.kind == "start"]
    assert [sent.workflow_id for sent in starts] == [f"c2c:hubspot:{seeded.deal_id}"]
    handle = surface.client.get_workflow_handle(f"c2c:hubspot:{seeded.deal_id}")
    await handle.terminate("test over")  # no worker polls the surface's queue


async def test_other_events_are_acknowledged_and_start_nothing(
    surface: Surface, hubspot: str, http: httpx.AsyncClient
) -> None:
    seeded = await seed_deal(http, hubspot)
    events = [
        stage_event(seeded.deal_id, "contractsent", event_id=1001),  # moved, but not won
        stage_event(seeded.deal_id, event_id=1002) | {"propertyName": "amount", "propertyValue": "5"},
        stage_event(seeded.deal_id, event_id=1003) | {"subscriptionType": "deal.creation"},
        stage_event(seeded.deal_id, event_id=1004),  # says won, but HubSpot has the deal open: refused, recorded
        stage_event(seeded.company_id, event_id=1005)
        | {"subscriptionType": "company.propertyChange", "propertyName": "city", "propertyValue": "Dallas"},
        stage_event(seeded.company_id, event_id=1006)
        | {"subscriptionType": "company.propertyChange", "propertyName": "c2c_golden_id", "propertyValue": "x"},
    ]
    response = await post(surface, events)
    assert response.status_code == 200, response.text
    statuses = [event["status"] for event in response.json()["events"]]
    assert statuses[0] == "ignored: stage 'contractsent' is not a won stage"
    assert statuses[1:3] == ["ignored: deal.propertyChange amount", "ignored: deal.creation dealstage"]
    assert statuses[3].startswith("refused: deal_not_closed")
    # A watched company property goes to the customer master (none yet: no saga onboarded it); others are ignored.
    assert statuses[4:] == ["not onboarded", "ignored: company.propertyChange c2c_golden_id"]
    await surface.nothing_changed()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"secret": "not-the-client-secret"}, "signature does not match"),
        ({"at_ms": -600}, "more than 300s from now"),  # seconds from the request's own now (not collection's)
        ({"at_ms": 600}, "more than 300s from now"),
    ],
)
async def test_forged_or_stale_requests_are_refused(
    surface: Surface, hubspot: str, http: httpx.AsyncClient, change: dict[str, Any], named: str
) -> None:
    seeded = await seed_deal(http, hubspot, dealstage="closedwon")
    if "at_ms" in change:
        change = {"at_ms": int((time.time() + change["at_ms"]) * 1000)}
    response = await post(surface, [stage_event(seeded.deal_id, event_id=7)], **change)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_webhook"
    assert named in response.json()["message"]
    await surface.nothing_changed()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "expected a non-empty JSON array"),
        ([], "expected a non-empty JSON array"),
        ([{"eventId": 1}], "portalId"),
        ([stage_event("1") | {"objectId": "D-1"}], "objectId"),
        ([stage_event("1") | {"eventId": True}], "eventId"),
        ([stage_event("1")] * 101, "at most 100"),
    ],
)
async def test_malformed_bodies_are_refused_naming_the_field(surface: Surface, body: Any, named: str) -> None:
    response = await post(surface, body)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]
    await surface.nothing_changed()


async def test_missing_headers_are_named(surface: Surface) -> None:
    body, headers = signed_webhook(URL, [stage_event("1")])
    for header in ("X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"):
        partial = {k: v for k, v in headers.items() if k != header}
        response = await surface.http.post(PATH, content=body, headers=partial)
        assert response.status_code == 400
        assert header in response.json()["message"]
    await surface.nothing_changed()
