"""The emulators' list and query endpoints on the wire, as the vendors answer them: SOQL comparisons and IN,
Stripe list cursors and `created` filters, NetSuite record collections with `q`, AvaTax `$filter` pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.server import build_app
from tests.support.netsuite import access_token
from tests.support.salesforce import Org, login
from tests.support.servers import Serve

STRIPE = {"Authorization": "Bearer sk_test_listing"}
AVATAX = {"Authorization": "Basic MTIzNDU6bGljZW5zZQ=="}  # 12345:license


# ---- Salesforce SOQL ------------------------------------------------------------------------------------------


@pytest.fixture
async def org(http: httpx.AsyncClient, own_server: Serve) -> Org:
    url = own_server(build_app("salesforce")).url
    return Org(url, http, await login(http, url))


async def test_soql_orders_dates_datetimes_and_numbers_and_takes_in_lists(org: Org) -> None:
    ids = [await org.opportunity_with_line(f"o{n}") for n in range(3)]
    for n, opp in enumerate(ids):
        await org.patch(f"/sobjects/Opportunity/{opp}", {"CloseDate": f"2026-11-0{n + 1}"})
    stamps = [(await org.get(f"/sobjects/Opportunity/{opp}")).json()["LastModifiedDate"] for opp in ids]

    async def names(where: str) -> list[str]:
        body = (await org.query(f"SELECT Id FROM Opportunity WHERE {where}")).json()
        return [r["Id"] for r in body["records"]]

    assert await names("CloseDate >= 2026-11-02") == ids[1:]
    assert await names("CloseDate < 2026-11-02") == ids[:1]
    # Stamps are `2026-11-28T10:00:00.123+0000` and strictly increasing: literals to the millisecond split them.
    literals = [f"{stamp[:23]}Z" for stamp in stamps]
    assert await names(f"LastModifiedDate >= {literals[1]}") == ids[1:]
    assert await names(f"LastModifiedDate > {literals[2]}") == []
    assert await names(f"LastModifiedDate <= {literals[0][:-1]}+00:00") == ids[:1]
    assert await names("Amount > 9") == ids
    assert await names(f"Id IN ('{ids[0]}', '{ids[2]}')") == [ids[0], ids[2]]
    assert await names("StageName IN ('Negotiation/Review') AND CloseDate <= 2026-11-01") == ids[:1]


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("Name > 'a'", "INVALID_QUERY_FILTER_OPERATOR"),  # the subset orders dates, datetimes and numbers only
        ("LastModifiedDate >= 2026-11-01", "INVALID_QUERY_FILTER_OPERATOR"),  # a date for a datetime field
        ("CloseDate >= 2026-11-01T00:00:00Z", "INVALID_QUERY_FILTER_OPERATOR"),  # a datetime for a date field
        ("Id IN ()", "MALFORMED_QUERY"),
        ("Id IN ('006000000000001AAA'", "MALFORMED_QUERY"),
    ],
)
async def test_bad_comparisons_answer_salesforce_errors(org: Org, where: str, code: str) -> None:
    response = await org.query(f"SELECT Id FROM Opportunity WHERE {where}")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


# ---- Stripe lists ---------------------------------------------------------------------------------------------


async def stripe_invoices(http: httpx.AsyncClient, url: str, count: int) -> list[str]:
    customer = (await http.post(f"{url}/v1/customers", data={"name": "Lister"}, headers=STRIPE)).json()["id"]
    made = []
    for _ in range(count):
        form = {"customer": customer, "currency": "usd", "collection_method": "send_invoice", "days_until_due": "1"}
        made.append((await http.post(f"{url}/v1/invoices", data=form, headers=STRIPE)).json()["id"])
    return made


async def test_stripe_lists_invoices_newest_first_with_cursors(http: httpx.AsyncClient, own_server: Serve) -> None:
    url = own_server(build_app("stripe")).url
    made = await stripe_invoices(http, url, 3)
    first = (await http.get(f"{url}/v1/invoices", params={"limit": 2}, headers=STRIPE)).json()
    assert ([i["id"] for i in first["data"]], first["has_more"], first["object"]) == ([made[2], made[1]], True, "list")
    rest = (await http.get(f"{url}/v1/invoices", params={"limit": 2, "starting_after": made[1]}, headers=STRIPE)).json()
    assert ([i["id"] for i in rest["data"]], rest["has_more"]) == ([made[0]], False)
    back = (await http.get(f"{url}/v1/invoices", params={"ending_before": made[0]}, headers=STRIPE)).json()
    assert [i["id"] for i in back["data"]] == [made[2], made[1]]
    created = first["data"][0]["created"]
    later = (await http.get(f"{url}/v1/invoices", params={"created[gt]": created}, headers=STRIPE)).json()
    assert later["data"] == []
    same = await http.get(f"{url}/v1/invoices", params={"created[gte]": created, "status": "draft"}, headers=STRIPE)
    assert len(same.json()["data"]) == 3
    subscriptions = (await http.get(f"{url}/v1/subscriptions", params={"created[lt]": 1}, headers=STRIPE)).json()
    assert subscriptions["data"] == []


@pytest.mark.parametrize(
    "params",
    [{"limit": "101"}, {"status": "late"}, {"created[after]": "1"}, {"starting_after": "in_nope"}, {"colour": "red"}],
)
async def test_stripe_refuses_bad_list_parameters(
    http: httpx.AsyncClient, own_server: Serve, params: dict[str, str]
) -> None:
    url = own_server(build_app("stripe")).url
    response = await http.get(f"{url}/v1/invoices", params=params, headers=STRIPE)
    assert response.status_code in (400, 404)
    assert response.json()["error"]["type"] == "invalid_request_error"


# ---- NetSuite record collections ------------------------------------------------------------------------------


async def netsuite(http: httpx.AsyncClient, own_server: Serve) -> tuple[str, dict[str, str]]:
    url = own_server(build_app("netsuite")).url
    return url, {"Authorization": f"Bearer {await access_token(http, url)}"}


async def test_netsuite_lists_record_ids_with_q_and_paging(http: httpx.AsyncClient, own_server: Serve) -> None:
    url, auth = await netsuite(http, own_server)
    records = f"{url}/services/rest/record/v1/customer"
    for n in range(3):
        body = {"companyName": f"C{n}", "subsidiary": {"id": "1"}}
        assert (await http.put(f"{records}/eid:c-{n}", json=body, headers=auth)).status_code == 204
    page = (await http.get(records, params={"limit": 2}, headers=auth)).json()
    assert (page["count"], page["hasMore"], page["totalResults"], page["offset"]) == (2, True, 3, 0)
    assert [link["rel"] for link in page["links"]] == ["self", "next"]
    assert page["items"][0]["links"][0]["href"].endswith(f"/customer/{page['items'][0]['id']}")
    rest = (await http.get(page["links"][1]["href"], headers=auth)).json()
    assert (rest["count"], rest["hasMore"]) == (1, False)
    record = (await http.get(f"{records}/{rest['items'][0]['id']}", headers=auth)).json()
    day = record["createdDate"][:10]
    month, date_, year = int(day[5:7]), int(day[8:10]), day[:4]
    query = {"q": f'lastModifiedDate ON_OR_AFTER "{month}/{date_}/{year}" AND externalId IS c-1'}
    filtered = (await http.get(records, params=query, headers=auth)).json()
    assert filtered["totalResults"] == 1
    none = (await http.get(records, params={"q": f'createdDate AFTER "{month}/{date_}/{year}"'}, headers=auth)).json()
    assert none["items"] == []


@pytest.mark.parametrize(
    "q", ["colour IS red", "externalId IS a OR externalId IS b", "createdDate ON_OR_AFTER 13/45/2026", "id"]
)
async def test_netsuite_refuses_queries_it_cannot_read(http: httpx.AsyncClient, own_server: Serve, q: str) -> None:
    url, auth = await netsuite(http, own_server)
    await http.put(
        f"{url}/services/rest/record/v1/customer/eid:x",
        json={"companyName": "X", "subsidiary": {"id": "1"}},
        headers=auth,
    )
    response = await http.get(f"{url}/services/rest/record/v1/customer", params={"q": q}, headers=auth)
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"


async def test_netsuite_external_id_changed_by_an_update_no_longer_finds_the_record(
    http: httpx.AsyncClient, own_server: Serve
) -> None:
    url, auth = await netsuite(http, own_server)
    records = f"{url}/services/rest/record/v1/customer"
    await http.put(f"{records}/eid:old", json={"companyName": "X", "subsidiary": {"id": "1"}}, headers=auth)
    assert (await http.patch(f"{records}/eid:old", json={"externalId": "new"}, headers=auth)).status_code == 204
    assert (await http.get(f"{records}/eid:old", headers=auth)).status_code == 404
    moved = (await http.get(f"{records}/eid:new", headers=auth)).json()
    assert moved["externalId"] == "new"
    assert moved["lastModifiedDate"] >= moved["createdDate"]


# ---- AvaTax transaction lists ---------------------------------------------------------------------------------


def avatax_document(code: str, day: str) -> dict[str, Any]:
    return {
        "type": "SalesInvoice",
        "code": code,
        "companyCode": "US01",
        "date": day,
        "customerCode": "C1",
        "currencyCode": "USD",
        "addresses": {
            "shipTo": {
                "line1": "1 Market St",
                "city": "San Francisco",
                "region": "CA",
                "postalCode": "94105",
                "country": "US",
            }
        },
        "lines": [{"number": "1", "quantity": 1, "amount": 100, "taxCode": "SW054000"}],
    }


async def test_avatax_lists_a_companys_documents_with_filter_and_pages(
    http: httpx.AsyncClient, own_server: Serve
) -> None:
    url = own_server(build_app("avatax")).url
    for n, day in enumerate(["2026-01-01", "2026-11-01", "2026-11-02", "2026-11-03"]):
        created = await http.post(
            f"{url}/api/v2/transactions/create", json=avatax_document(f"d{n}", day), headers=AVATAX
        )
        assert created.status_code == 201, created.text
    listing = f"{url}/api/v2/companies/US01/transactions"
    page = (await http.get(listing, params={"$filter": "date ge '2026-11-01'", "$top": 2}, headers=AVATAX)).json()
    assert (page["@recordsetCount"], [d["code"] for d in page["value"]]) == (3, ["d1", "d2"])
    assert "lines" not in page["value"][0]
    rest = (await http.get(page["@nextLink"], headers=AVATAX)).json()
    assert ([d["code"] for d in rest["value"]], "@nextLink" in rest) == (["d3"], False)
    with_lines = (
        await http.get(listing, params={"$filter": "code eq 'd0'", "$include": "Lines"}, headers=AVATAX)
    ).json()
    assert len(with_lines["value"][0]["lines"]) == 1
    assert (await http.get(f"{url}/api/v2/companies/DE01/transactions", headers=AVATAX)).json()["value"] == []


@pytest.mark.parametrize("params", [{"$filter": "colour eq 'red'"}, {"$filter": "date after 2026"}, {"$top": "0"}])
async def test_avatax_refuses_filters_it_cannot_read(
    http: httpx.AsyncClient, own_server: Serve, params: dict[str, str]
) -> None:
    url = own_server(build_app("avatax")).url
    response = await http.get(f"{url}/api/v2/companies/US01/transactions", params=params, headers=AVATAX)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidFilter"
