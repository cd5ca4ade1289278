"""The HubSpot connector pointed at an emulator, and deals seeded through HubSpot's own API (as a salesperson's
CRM would hold them): a company, a deal associated to it as primary, line items associated to the deal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.hubspot import HubSpotCredentials, HubSpotCrm
from sandbox.hubspot.access import CLIENT_SECRET, PRIVATE_APP_TOKEN

AUTH = {"Authorization": f"Bearer {PRIVATE_APP_TOKEN}"}
PRIMARY_COMPANY, LINE_ITEM_TO_DEAL = 5, 20


def hubspot_connector(http: httpx.AsyncClient, url: str, **credentials: str) -> HubSpotCrm:
    return HubSpotCrm(http, url, HubSpotCredentials(**(credentials or {"access_token": PRIVATE_APP_TOKEN})))


def company_properties(**changes: Any) -> dict[str, Any]:
    return {
        "name": f"Initech {uuid.uuid4().hex[:6]} Inc",
        "address": "1 Infinite Loop",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "US",
        "c2c_tax_id": "US-12-3456789",
        "c2c_billing_email": "ap@initech.test",
    } | changes


def deal_properties(**changes: Any) -> dict[str, Any]:
    return {
        "dealname": f"Initech platform {uuid.uuid4().hex[:6]}",
        "pipeline": "default",
        "dealstage": "contractsent",
        "closedate": "2026-11-20T00:00:00.000Z",
        "deal_currency_code": "USD",
        "amount": "689.00",
        "c2c_legal_entity": "US01",
        "c2c_term_months": "12",
        "c2c_billing_period": "Monthly",
    } | changes


@dataclass
class SeededDeal:
    deal_id: str
    company_id: str
    line_ids: list[str]


async def create(http: httpx.AsyncClient, url: str, kind: str, properties: dict[str, Any], links: Any = None) -> str:
    body: dict[str, Any] = {"properties": properties}
    if links:
        body["associations"] = links
    response = await http.post(f"{url}/crm/v3/objects/{kind}", json=body, headers=AUTH)
    response.raise_for_status()
    return str(response.json()["id"])


def link(to_id: str, type_id: int) -> list[dict[str, Any]]:
    return [{"to": {"id": to_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}]


async def seed_deal(
    http: httpx.AsyncClient,
    url: str,
    *,
    lines: tuple[tuple[str, str, str], ...] = (("PLAT-SEAT", "10", "49.00"), ("ANALYTICS", "1", "199")),
    company: dict[str, Any] | None = None,
    company_id: str | None = None,
    **deal: Any,
) -> SeededDeal:
    """A company (or `company_id`), a deal with it as primary company, and its line items (sku, quantity, price)."""
    company_id = company_id or await create(http, url, "companies", company_properties(**(company or {})))
    deal_id = await create(http, url, "deals", deal_properties(**deal), link(company_id, PRIMARY_COMPANY))
    line_ids = []
    for sku, quantity, price in lines:
        properties = {"name": sku, "hs_sku": sku, "quantity": quantity, "price": price}
        line_ids.append(await create(http, url, "line_items", properties, link(deal_id, LINE_ITEM_TO_DEAL)))
    return SeededDeal(deal_id, company_id, line_ids)


async def set_stage(http: httpx.AsyncClient, url: str, deal_id: str, stage: str = "closedwon") -> None:
    body = {"properties": {"dealstage": stage}}
    (await http.patch(f"{url}/crm/v3/objects/deals/{deal_id}", json=body, headers=AUTH)).raise_for_status()


async def hubspot_state(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(f"{url}/_sandbox/state")
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def signed_webhook(
    url: str, events: Any, secret: str = CLIENT_SECRET, at_ms: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A webhooks v3 request body (`events` as JSON, whatever they are) and its headers, signed as HubSpot signs."""
    body = json.dumps(events).encode()
    timestamp = str(at_ms if at_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), b"POST" + url.encode() + body + timestamp.encode(), hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }
    return body, headers


def stage_event(deal_id: str, stage: str = "closedwon", event_id: int = 1) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 2718281,
        "portalId": 24681357,
        "appId": 3141592,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": int(deal_id),
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }
