"""SuiteQL on the NetSuite emulator in the documented REST shapes (NetSuite has no maintained Python SDK):
`POST /services/rest/query/v1/suiteql` with `Prefer: transient` and `{"q": ...}`, paged by `limit` / `offset`,
answering `items` (each with `links`), `count`, `hasMore`, `offset`, `totalResults` and `links`; refusals as
RFC 9457 bodies with `o:errorDetails` / `o:errorCode`. Each test has an emulator of its own, so counts are exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.netsuite import decimal_json
from tests.support.netsuite import access_token, netsuite_app
from tests.support.servers import Serve

SUITEQL = "/services/rest/query/v1/suiteql"
RECORDS = "/services/rest/record/v1"


class Account:
    def __init__(self, http: httpx.AsyncClient, url: str, token: str) -> None:
        self.http, self.url = http, url
        self.auth = {"Authorization": f"Bearer {token}"}

    async def write(self, path: str, body: dict[str, Any]) -> str:
        response = await self.http.put(
            f"{self.url}{RECORDS}/{path}", content=decimal_json.dumps(body), headers=self.auth
        )
        assert response.status_code == 204, response.text
        return response.headers["Location"].rpartition("/")[2]

    async def suiteql(self, q: str, prefer: str | None = "transient", **params: int) -> httpx.Response:
        headers = self.auth | ({"Prefer": prefer} if prefer else {})
        return await self.http.post(f"{self.url}{SUITEQL}", params=params, json={"q": q}, headers=headers)

    async def rows(self, q: str, **params: int) -> list[dict[str, Any]]:
        response = await self.suiteql(q, **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def account(own_server: Serve, http: httpx.AsyncClient) -> Account:
    url = own_server(netsuite_app()).url
    return Account(http, url, await access_token(http, url))


async def customer(account: Account, name: str, key: str, subsidiary: str = "1", currency: str = "1") -> str:
    body = {"companyName": name, "subsidiary": {"id": subsidiary}, "currency": {"id": currency}}
    return await account.write(f"customer/eid:{key}", body)


async def invoice(account: Account, entity: str, key: str, rate: str, day: str = "2025-03-01") -> str:
    line = {"item": {"id": "10"}, "quantity": 1, "rate": Decimal(rate), "amount": Decimal(rate)}
    body = {
        "entity": {"id": entity},
        "subsidiary": {"id": "1"},
        "currency": {"id": "1"},
        "tranDate": day,
        "item": {"items": [line]},
    }
    return await account.write(f"invoice/eid:{key}", body)


async def test_a_query_answers_the_documented_page_shape_with_text_values(account: Account) -> None:
    acme = await customer(account, "Acme", "c-acme")
    first = await invoice(account, acme, "inv-1", "100.50", "2025-03-01")
    response = await account.suiteql(
        "SELECT id, tranid, trandate, type, entity, externalid, foreigntotal, status FROM transaction "
        f"WHERE id = {first}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"links", "count", "hasMore", "items", "offset", "totalResults"}
    assert (body["count"], body["hasMore"], body["offset"], body["totalResults"]) == (1, False, 0, 1)
    assert body["items"] == [
        {
            "links": [],
            "id": first,
            "tranid": f"INV{first}",
            "trandate": "3/1/2025",  # the account's date preference, as NetSuite answers dates
            "type": "CustInvc",
            "entity": acme,
            "externalid": "inv-1",
            "foreigntotal": "100.5",
            "status": "A",  # open
        }
    ]
    assert {link["rel"] for link in body["links"]} == {"first", "last", "self"}


async def test_where_and_in_order_by_over_transactions_and_customers(account: Account) -> None:
    acme = await customer(account, "Acme", "c-acme")
    globex = await customer(account, "Globex", "c-globex")
    await customer(account, "Euro GmbH", "c-euro", subsidiary="2", currency="4")
    for key, entity, rate in (("a-1", acme, "10"), ("a-2", acme, "30"), ("g-1", globex, "20")):
        await invoice(account, entity, key, rate)
    rows = await account.rows(
        f"SELECT externalid, foreigntotal FROM transaction WHERE type = 'CustInvc' AND entity IN ({acme}, {globex}) "
        "ORDER BY foreigntotal DESC"
    )
    assert [(r["externalid"], r["foreigntotal"]) for r in rows] == [("a-2", "30"), ("g-1", "20"), ("a-1", "10")]
    only_acme = await account.rows(f"select externalid from transaction where entity = '{acme}' order by externalid")
    assert [r["externalid"] for r in only_acme] == ["a-1", "a-2"]
    names = await account.rows("SELECT companyname, subsidiary FROM customer WHERE subsidiary = 1 ORDER BY companyname")
    assert [(r["companyname"], r["subsidiary"]) for r in names] == [("Acme", "1"), ("Globex", "1")]
    everything = await account.rows("SELECT * FROM customer WHERE externalid = 'c-euro'")
    assert everything[0]["currency"] == "4"
    assert "email" not in everything[0]  # a null value is left out of its row


async def test_limit_and_offset_page_with_has_more_and_links(account: Account) -> None:
    acme = await customer(account, "Acme", "c-acme")
    for n in range(5):
        await invoice(account, acme, f"p-{n}", str(10 + n))
    q = "SELECT externalid FROM transaction ORDER BY externalid"
    first = (await account.suiteql(q, limit=2, offset=0)).json()
    assert (first["count"], first["hasMore"], first["totalResults"]) == (2, True, 5)
    next_link = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert parse_qs(urlsplit(next_link).query) == {"limit": ["2"], "offset": ["2"]}
    seen = [row["externalid"] for row in first["items"]]
    offset = 2
    while True:
        page = (await account.suiteql(q, limit=2, offset=offset)).json()
        seen += [row["externalid"] for row in page["items"]]
        if not page["hasMore"]:
            break
        offset += page["count"]
    assert seen == [f"p-{n}" for n in range(5)]
    assert page["offset"] == 4
    assert page["count"] == 1
    assert "next" not in {link["rel"] for link in page["links"]}


@pytest.mark.parametrize(
    ("q", "prefer", "params", "mentions"),
    [
        ("SELECT id FROM transaction", None, {}, "Prefer: transient"),
        ("SELECT nosuchfield FROM transaction", "transient", {}, "nosuchfield"),
        ("SELECT id FROM nosuchtable", "transient", {}, "nosuchtable"),
        ("SELECT id FROM transaction WHERE", "transient", {}, "Invalid search query"),
        ("SELECT id FROM transaction", "transient", {"limit": 1001}, "limit"),
        ("DELETE FROM transaction", "transient", {}, "Invalid search query"),
    ],
)
async def test_refusals_are_netsuite_error_bodies(
    account: Account, q: str, prefer: str | None, params: dict[str, int], mentions: str
) -> None:
    response = await account.suiteql(q, prefer=prefer, **params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/vnd.oracle.resource+json; type=error")
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_PARAMETER"
    assert mentions in detail["detail"]


async def test_suiteql_needs_a_valid_token(account: Account, http: httpx.AsyncClient) -> None:
    refused = await http.post(
        f"{account.url}{SUITEQL}", json={"q": "SELECT id FROM customer"}, headers={"Prefer": "transient"}
    )
    assert refused.status_code == 401
    assert refused.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
