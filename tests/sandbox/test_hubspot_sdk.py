"""The HubSpot emulator through HubSpot's official Python SDK (hubspot-api-client), unmodified but for its host:
deals, companies, line items and products created with associations, read with properties and associations,
searched, batch read; v4 associations; deal pipelines; OAuth tokens; refusals as the SDK's ApiException with
HubSpot's error body."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from sandbox.hubspot.access import CLIENT_ID, CLIENT_SECRET, PRIVATE_APP_TOKEN, REFRESH_TOKEN

hubspot = pytest.importorskip("hubspot")
from hubspot.crm.associations.v4 import AssociationSpec  # noqa: E402
from hubspot.crm.deals import (  # noqa: E402
    ApiException,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)


@pytest.fixture
def url(emulators: Any) -> str:
    url: str = emulators.url("hubspot")
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    return url


@pytest.fixture
def api(url: str) -> Any:
    return hubspot.HubSpot(access_token=PRIVATE_APP_TOKEN, host=url)


def _deal_with_company_and_lines(api: Any) -> tuple[str, str, list[str]]:
    company = api.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": f"SDK Corp {uuid.uuid4().hex[:6]}", "country": "US"})
    )
    deal = api.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"dealname": "SDK deal", "dealstage": "contractsent", "pipeline": "default", "amount": "490"},
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        )
    )
    lines = []
    for sku, quantity, price in (("PLAT-SEAT", "10", "49.00"), ("ANALYTICS", "1", "199")):
        line = api.crm.line_items.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"name": sku, "hs_sku": sku, "quantity": quantity, "price": price},
                associations=[
                    {
                        "to": {"id": deal.id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}],
                    }
                ],
            )
        )
        lines.append(line.id)
    return deal.id, company.id, lines


def test_sdk_reads_a_deal_with_its_primary_company_and_line_items(api: Any) -> None:
    deal_id, company_id, line_ids = _deal_with_company_and_lines(api)
    deal = api.crm.deals.basic_api.get_by_id(
        deal_id, properties=["dealname", "dealstage", "amount"], associations=["companies", "line_items"]
    )
    assert deal.properties["dealname"] == "SDK deal"
    assert deal.properties["amount"] == "490"  # HubSpot keeps every property value as a string
    companies = {(a.id, a.type) for a in deal.associations["companies"].results}
    assert companies == {(company_id, "deal_to_company"), (company_id, "deal_to_company_unlabeled")}
    assert sorted(a.id for a in deal.associations["line items"].results) == sorted(line_ids)
    page = api.crm.associations.v4.basic_api.get_page("deals", deal_id, "companies")
    assert [str(r.to_object_id) for r in page.results] == [company_id]
    assert {t.label for t in page.results[0].association_types} == {"Primary", None}
    lines = api.crm.line_items.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in line_ids], properties=["hs_sku", "quantity", "price"]
        )
    )
    assert sorted((r.properties["hs_sku"], r.properties["price"]) for r in lines.results) == [
        ("ANALYTICS", "199"),
        ("PLAT-SEAT", "49.00"),
    ]


def test_sdk_updates_searches_and_associates(api: Any) -> None:
    deal_id, company_id, _ = _deal_with_company_and_lines(api)
    api.crm.deals.basic_api.update(deal_id, SimplePublicObjectInput(properties={"dealstage": "closedwon"}))
    won = api.crm.deals.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="dealstage", operator="EQ", value="closedwon")])],
            properties=["dealname", "dealstage"],
            limit=10,
        )
    )
    assert [r.id for r in won.results] == [deal_id]
    assert won.total == 1
    other = api.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(properties={"name": "Second"}))
    api.crm.associations.v4.basic_api.create(
        "deals",
        deal_id,
        "companies",
        other.id,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=341)],
    )
    page = api.crm.associations.v4.basic_api.get_page("companies", other.id, "deals")
    assert [str(r.to_object_id) for r in page.results] == [deal_id]
    assert company_id != other.id


def test_sdk_reads_the_deal_pipelines_with_closed_won_stages(api: Any) -> None:
    pipelines = api.crm.pipelines.pipelines_api.get_all("deals").results
    won = {(p.id, s.id) for p in pipelines for s in p.stages if s.metadata["probability"] == "1.0"}
    assert won == {("default", "closedwon"), ("75650911", "164250014")}


def test_sdk_sees_hubspot_refusals_as_api_exceptions(api: Any, url: str) -> None:
    with pytest.raises(ApiException) as missing:
        api.crm.deals.basic_api.get_by_id("999")
    body = json.loads(missing.value.body)
    assert (missing.value.status, body["status"], body["category"]) == (404, "error", "OBJECT_NOT_FOUND")
    assert body["correlationId"]
    with pytest.raises(ApiException) as invalid:
        api.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"dealstage": "nowhere", "colour": "red"})
        )
    body = json.loads(invalid.value.body)
    assert (invalid.value.status, body["category"]) == (400, "VALIDATION_ERROR")
    assert "colour" in body["message"]
    assert "nowhere" in body["message"]
    assert httpx.get(f"{url}/_sandbox/state").json()["objects"]["deals"] == []  # nothing written
    stranger = hubspot.HubSpot(access_token="pat-na1-wrong", host=url)
    with pytest.raises(ApiException) as unauthorised:
        stranger.crm.deals.basic_api.get_page()
    assert (unauthorised.value.status, json.loads(unauthorised.value.body)["category"]) == (
        401,
        "INVALID_AUTHENTICATION",
    )


def test_sdk_is_refused_past_the_rate_limit_with_hubspots_headers(api: Any, url: str) -> None:
    httpx.post(f"{url}/_sandbox/limits", json={"ten_secondly": 2, "daily": 1000}).raise_for_status()
    api.crm.deals.basic_api.get_page()
    api.crm.deals.basic_api.get_page()
    with pytest.raises(ApiException) as limited:
        api.crm.deals.basic_api.get_page()
    body = json.loads(limited.value.body)
    assert (limited.value.status, body["errorType"], body["policyName"]) == (429, "RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert limited.value.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert limited.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.value.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_sdk_refreshes_an_oauth_token_and_uses_it(url: str) -> None:
    client = hubspot.HubSpot(host=url)
    tokens = client.oauth.tokens_api.create(
        grant_type="refresh_token", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN
    )
    assert tokens.expires_in == 1800
    assert tokens.refresh_token == REFRESH_TOKEN
    client.access_token = tokens.access_token
    assert client.crm.deals.basic_api.get_page().results == []
