"""The Salesforce connector's session rotation against an emulator of its own that times sessions out
(`/_sandbox/sessions`), and a deal whose lines were added the standard way (price book entries) read by get_deal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.errors import PermanentError
from connectors.salesforce import SalesforceCrm
from connectors.salesforce.client import SESSION_MARGIN_SECONDS
from sandbox.server import build_app
from tests.support.salesforce import Org, login
from tests.support.servers import Serve


@pytest.fixture
def url(own_server: Serve) -> str:
    return own_server(build_app("salesforce")).url


async def issued(http: httpx.AsyncClient, url: str) -> int:
    count: int = (await http.get(f"{url}/_sandbox/state")).json()["sessionsIssued"]
    return count


async def test_a_timed_out_session_is_replaced_by_one_login(http: httpx.AsyncClient, url: str) -> None:
    crm = SalesforceCrm(http, url, "c2c", "sandbox-secret")
    await crm.query("SELECT Id FROM Account")
    assert (await http.post(f"{url}/_sandbox/sessions/expire")).json() == {"expired": 1}
    assert await crm.query("SELECT Id FROM Account") == []  # 401 INVALID_SESSION_ID, a new login, the same query
    assert await issued(http, url) == 2


async def test_a_fresh_session_refused_again_is_permanent_auth(http: httpx.AsyncClient, url: str) -> None:
    crm = SalesforceCrm(http, url, "c2c", "sandbox-secret")
    await crm.query("SELECT Id FROM Account")
    # Every session from now on times out at once: the old one is refused, and so is the fresh one.
    await http.post(f"{url}/_sandbox/sessions", json={"timeout_seconds": 0})
    await http.post(f"{url}/_sandbox/sessions/expire")
    with pytest.raises(PermanentError) as caught:
        await crm.query("SELECT Id FROM Account")
    assert (caught.value.system, caught.value.code, caught.value.status) == ("salesforce", "auth", 401)
    assert "INVALID_SESSION_ID" in caught.value.message
    assert await issued(http, url) == 2  # exactly one fresh login, no loop


async def test_a_configured_session_lifetime_logs_in_again_before_it_runs_out(
    http: httpx.AsyncClient, url: str
) -> None:
    now = [1000.0]
    crm = SalesforceCrm(http, url, "c2c", "sandbox-secret", session_seconds=900, clock=lambda: now[0])
    await crm.query("SELECT Id FROM Account")
    now[0] += 900 - SESSION_MARGIN_SECONDS - 1
    await crm.query("SELECT Id FROM Account")
    assert await issued(http, url) == 1  # still inside the lifetime less the margin
    now[0] += 1
    await crm.query("SELECT Id FROM Account")
    assert await issued(http, url) == 2  # renewed before Salesforce could refuse it (the emulator never would)


async def test_a_refused_login_is_permanent_auth(http: httpx.AsyncClient, url: str) -> None:
    with pytest.raises(PermanentError) as caught:
        await SalesforceCrm(http, url, "c2c", "wrong").query("SELECT Id FROM Account")
    assert caught.value.code == "auth"


async def test_get_deal_reads_lines_added_from_price_book_entries(http: httpx.AsyncClient, url: str) -> None:
    org = Org(url, http, await login(http, url))

    async def created(path: str, body: dict[str, Any]) -> str:
        response = await org.post(path, body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    standard = (await org.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")).json()["records"][0]["Id"]
    entries = {}
    for code, price in (("PLAT-SEAT", 49), ("ANALYTICS", 199)):
        product = await created("/sobjects/Product2", {"Name": code.title(), "ProductCode": code, "IsActive": True})
        entry = {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": price, "IsActive": True}
        entries[code] = await created("/sobjects/PricebookEntry", entry)
    account = await created(
        "/sobjects/Account",
        {
            "Name": "Pricebook Corp",
            "BillingStreet": "1 Main St",
            "BillingCity": "Austin",
            "BillingState": "TX",
            "BillingPostalCode": "78701",
            "BillingCountry": "US",
        },
    )
    deal = await created(
        "/sobjects/Opportunity",
        {
            "Name": "Pricebook deal",
            "AccountId": account,
            "StageName": "Negotiation/Review",
            "CloseDate": "2024-06-30",
            "Legal_Entity__c": "US01",
            "Term_Months__c": 12,
            "Billing_Period__c": "Monthly",
        },
    )
    for code, quantity in (("PLAT-SEAT", 10), ("ANALYTICS", 1)):
        line = {"OpportunityId": deal, "PricebookEntryId": entries[code], "Quantity": quantity, "UnitPrice": 45}
        await created("/sobjects/OpportunityLineItem", line)
    assert (await org.patch(f"/sobjects/Opportunity/{deal}", {"StageName": "Closed Won"})).status_code == 204

    read = await SalesforceCrm(http, url, "c2c", "sandbox-secret").get_deal(deal)
    assert sorted((line.product_code, line.quantity) for line in read.lines) == [("ANALYTICS", 1), ("PLAT-SEAT", 10)]
