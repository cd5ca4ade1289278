"""Salesforce Outbound Messages into the trigger API: the closed-won SOAP message an admin sets up without code
starts the deal's saga and is acknowledged only once the start is durable; anything that is not a genuine outbound
message of the configured org gets a SOAP fault (4xx) and starts nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from estate.book import ACME, DealSpec
from sandbox.salesforce.outbound import envelope
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from tests.support.servers import serving

DEAL = DealSpec("OM-1", ACME, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])
ORG = "00D5g000000C2CSAND"
XML = {"Content-Type": "text/xml; charset=utf-8"}


@pytest.fixture
async def api(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[Estate, str]]:
    """The estate and the trigger API, with the CRM emulator's closed-won Outbound Message pointed at it."""
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
        admin = f"{estate.urls['salesforce']}/_sandbox/outbound"
        async with serving(app) as url:
            (await estate.http.post(admin, json={"url": f"{url}/webhooks/salesforce/outbound"})).raise_for_status()
            try:
                yield estate, url
            finally:
                await estate.http.post(admin, json={"url": None})
                await estate.http.delete(f"{estate.urls['salesforce']}/_sandbox/faults")


async def delivery(estate: Estate, deal_id: str) -> dict[str, Any]:
    """The emulator's outbound message for the deal, once it is acknowledged."""

    async def acknowledged() -> dict[str, Any] | None:
        messages = (await estate.state("salesforce"))["outboundMessages"]
        mine = [m for m in messages if m["recordId"] == deal_id and m["acknowledged"]]
        return mine[0] if mine else None

    found: dict[str, Any] = await eventually(acknowledged, timeout=30)
    return found


async def started(estate: Estate, deal_id: str) -> bool:
    try:
        await estate.client.get_workflow_handle(ids.saga_id("salesforce", deal_id)).describe()
    except RPCError:
        return False
    return True


async def test_a_deal_closed_won_starts_its_saga_through_the_outbound_message(api: tuple[Estate, str]) -> None:
    estate, _ = api
    deal_id = await estate.closed_deal(DEAL)

    message = await delivery(estate, deal_id)

    assert message["attempts"] == 1
    assert await started(estate, deal_id)


async def test_the_message_is_sent_again_until_the_start_is_durable(api: tuple[Estate, str]) -> None:
    estate, _ = api
    # The CRM read behind the start fails once: the listener answers a SOAP fault, not the Ack, and Salesforce retries.
    rule = {"method": "GET", "path_prefix": "/services/data/v60.0/query", "kind": "status", "status": 503, "times": 1}
    (await estate.http.post(f"{estate.urls['salesforce']}/_sandbox/faults", json=rule)).raise_for_status()
    deal_id = await estate.closed_deal(DEAL)

    message = await delivery(estate, deal_id)

    assert message["attempts"] == 2
    assert await started(estate, deal_id)


async def test_a_repeated_notification_is_acknowledged_and_starts_nothing_more(api: tuple[Estate, str]) -> None:
    estate, url = api
    deal_id = await estate.closed_deal(DEAL)
    await delivery(estate, deal_id)
    body = envelope(ORG, "04k5g000000C2CWON", "http://x", [("04l5g0000000001AAA", {"Id": deal_id})])

    again = await estate.http.post(f"{url}/webhooks/salesforce/outbound", content=body, headers=XML)

    assert again.status_code == 200
    assert "<Ack>true</Ack>" in again.text


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
    "<lolz>&lol2;</lolz>"
)
EXTERNAL_ENTITY = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not xml", "not a SOAP message"),
        (BILLION_LAUGHS, "not a SOAP message"),
        (EXTERNAL_ENTITY, "not a SOAP message"),
        ("<a/>", "outbound notifications"),
        (
            envelope(
                "00D000000000001AAA",
                "04k5g000000C2CWON",
                "http://x",
                [("04l5g0000000001AAA", {"Id": "0065g000000AAAAAAA"})],
            ),
            "OrganizationId",
        ),
        (envelope(ORG, "04k5g000000C2CWON", "http://x", []), "0 Notification"),
        (envelope(ORG, "04k", "http://x", [("04l5g0000000001AAA", {"Id": "x'; DROP"})]), "Salesforce ids"),
        (
            envelope(ORG, "04k", "http://x", [("04l5g0000000001AAA", {"Id": "0065g000000AAAAAAA"})]).replace(
                "sf:Opportunity", "sf:Account"
            ),
            "not Opportunity",
        ),
    ],
)
async def test_anything_but_an_outbound_message_of_the_org_is_a_soap_fault_and_starts_nothing(
    api: tuple[Estate, str], body: str, problem: str
) -> None:
    estate, url = api

    response = await estate.http.post(f"{url}/webhooks/salesforce/outbound", content=body.encode(), headers=XML)

    assert response.status_code == 400
    assert "<faultcode>soapenv:Client</faultcode>" in response.text
    assert problem in response.text
    assert not await started(estate, "0065g000000AAAAAAA")
