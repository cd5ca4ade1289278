"""The emulator's Contract sObject and the opportunity fields of amendments, over real HTTP (REST and SOQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.salesforce import Org, login


@pytest.fixture
async def org(emulators: Any, http: httpx.AsyncClient) -> Org:
    url = emulators.url("salesforce")
    assert (await http.post(f"{url}/_sandbox/reset")).status_code == 200
    return Org(url, http, await login(http, url))


async def account(org: Org) -> str:
    created = await org.post("/sobjects/Account", {"Name": "Acme"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def error(response: httpx.Response) -> tuple[int, str, list[str] | None]:
    body = response.json()[0]
    return response.status_code, body["errorCode"], body.get("fields")


async def test_a_contract_is_created_as_draft_then_activated_with_end_date_and_number(org: Org) -> None:
    body = {"AccountId": await account(org), "StartDate": "2024-01-31", "ContractTerm": 12, "Description": "c2c"}
    created = await org.post("/sobjects/Contract", body)
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    assert contract_id.startswith("800")
    assert len(contract_id) == 18
    record = (await org.get(f"/sobjects/Contract/{contract_id}")).json()
    assert record["Status"] == "Draft"  # the picklist's default
    assert record["EndDate"] == "2025-01-30"  # StartDate + 12 months - 1 day
    assert record["ContractTerm"] == 12
    assert record["ContractNumber"].isdigit()
    assert 8 <= len(record["ContractNumber"]) <= 10  # display format {00000000}; an auto-number has 10 digits at most
    assert record["CreatedDate"]
    assert record["SystemModstamp"]

    activated = await org.patch(f"/sobjects/Contract/{contract_id}", {"Status": "Activated"})
    assert activated.status_code == 204, activated.text
    rows = (await org.query(f"SELECT Id, Status, EndDate FROM Contract WHERE Id = '{contract_id}'")).json()
    assert [(r["Status"], r["EndDate"]) for r in rows["records"]] == [("Activated", "2025-01-30")]


@pytest.mark.parametrize(
    ("start", "term", "end"),
    [("2024-01-31", 1, "2024-02-28"), ("2024-03-01", 1, "2024-03-31"), ("2024-06-15", 24, "2026-06-14")],
)
async def test_end_date_is_start_plus_term_months_less_a_day(org: Org, start: str, term: int, end: str) -> None:
    created = await org.post("/sobjects/Contract", {"AccountId": await account(org), "StartDate": start})
    contract_id = created.json()["id"]
    assert (await org.get(f"/sobjects/Contract/{contract_id}")).json()["EndDate"] is None  # no term yet
    assert (await org.patch(f"/sobjects/Contract/{contract_id}", {"ContractTerm": term})).status_code == 204
    assert (await org.get(f"/sobjects/Contract/{contract_id}")).json()["EndDate"] == end


async def test_contract_numbers_are_distinct_and_read_only(org: Org) -> None:
    acct = await account(org)
    ids = [(await org.post("/sobjects/Contract", {"AccountId": acct})).json()["id"] for _ in range(2)]
    numbers = [(await org.get(f"/sobjects/Contract/{i}")).json()["ContractNumber"] for i in ids]
    assert numbers[0] != numbers[1]
    refused = await org.patch(f"/sobjects/Contract/{ids[0]}", {"ContractNumber": "1"})
    assert error(refused) == (400, "INVALID_FIELD_FOR_INSERT_UPDATE", ["ContractNumber"])
    refused = await org.patch(f"/sobjects/Contract/{ids[0]}", {"EndDate": "2030-01-01"})
    assert error(refused) == (400, "INVALID_FIELD_FOR_INSERT_UPDATE", ["EndDate"])


async def test_a_contract_cannot_be_created_activated_nor_leave_activated(org: Org) -> None:
    acct = await account(org)
    refused = await org.post("/sobjects/Contract", {"AccountId": acct, "Status": "Activated"})
    assert error(refused) == (400, "FIELD_INTEGRITY_EXCEPTION", ["Status"])
    assert "contract status" in refused.json()[0]["message"]
    upserted = await org.patch("/sobjects/Contract/C2C_Deal_Id__c/006x", {"AccountId": acct, "Status": "Activated"})
    assert error(upserted) == (400, "FIELD_INTEGRITY_EXCEPTION", ["Status"])
    assert (await org.state())["Contract"] == []

    contract_id = (await org.post("/sobjects/Contract", {"AccountId": acct})).json()["id"]
    assert (await org.patch(f"/sobjects/Contract/{contract_id}", {"Status": "Activated"})).status_code == 204
    back = await org.patch(f"/sobjects/Contract/{contract_id}", {"Status": "Draft"})
    assert error(back) == (400, "FIELD_INTEGRITY_EXCEPTION", ["Status"])
    again = await org.patch(f"/sobjects/Contract/{contract_id}", {"Status": "Activated", "Description": "x"})
    assert again.status_code == 204


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({}, "REQUIRED_FIELD_MISSING", ["AccountId"]),
        ({"Status": "Signed"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status"]),
        ({"ContractTerm": 1.5}, "JSON_PARSER_ERROR", None),
        ({"StartDate": "2024-02-30"}, "JSON_PARSER_ERROR", None),
        ({"AccountId": "001000000000001"}, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
    ],
)
async def test_contract_writes_are_refused_as_salesforce_refuses_them(
    org: Org, body: dict[str, Any], code: str, fields: list[str] | None
) -> None:
    full = ({"AccountId": await account(org)} | body) if body else {}
    refused = await org.post("/sobjects/Contract", full)
    assert error(refused) == (400, code, fields)


async def test_upsert_by_deal_id_twice_keeps_one_contract(org: Org) -> None:
    acct = await account(org)
    body = {"AccountId": acct, "StartDate": "2024-07-01", "ContractTerm": 12, "C2C_Subscription_Id__c": "sub_1"}
    first = await org.patch("/sobjects/Contract/C2C_Deal_Id__c/006AAA", body)
    second = await org.patch("/sobjects/Contract/C2C_Deal_Id__c/006AAA", body | {"ContractTerm": 24})
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert first.json()["id"] == second.json()["id"]
    contracts = (await org.state())["Contract"]
    assert [(c["C2C_Deal_Id__c"], c["ContractTerm"], c["EndDate"]) for c in contracts] == [("006AAA", 24, "2026-06-30")]
    by_key = await org.get("/sobjects/Contract/C2C_Deal_Id__c/006AAA")
    assert by_key.json()["C2C_Subscription_Id__c"] == "sub_1"
    rows = (await org.query("SELECT Id, ContractNumber FROM Contract WHERE C2C_Deal_Id__c = '006AAA'")).json()
    assert [r["Id"] for r in rows["records"]] == [first.json()["id"]]


async def test_an_amendment_opportunity_references_a_contract_with_type_and_effective_date(org: Org) -> None:
    acct = await account(org)
    contract_id = (await org.post("/sobjects/Contract", {"AccountId": acct})).json()["id"]
    opp = {
        "Name": "Upsell",
        "AccountId": acct,
        "StageName": "Prospecting",
        "CloseDate": "2024-08-01",
        "Type": "Existing Customer - Upgrade",
        "ContractId": contract_id,
        "Effective_Date__c": "2024-08-15",
    }
    created = await org.post("/sobjects/Opportunity", opp)
    assert created.status_code == 201, created.text
    opp_id = created.json()["id"]
    soql = f"SELECT Id, Type, ContractId, Effective_Date__c FROM Opportunity WHERE ContractId = '{contract_id}'"
    rows = (await org.query(soql)).json()["records"]
    assert [(r["Type"], r["ContractId"], r["Effective_Date__c"]) for r in rows] == [
        ("Existing Customer - Upgrade", contract_id, "2024-08-15")
    ]
    # A reduction is a negative quantity, and the amount follows it.
    line = {"OpportunityId": opp_id, "Quantity": -2, "UnitPrice": 10, "ProductCode": "PLAT-SEAT"}
    assert (await org.post("/sobjects/OpportunityLineItem", line)).status_code == 201
    amount = (await org.get(f"/sobjects/Opportunity/{opp_id}")).json()["Amount"]
    assert Decimal(str(amount)) == -20


async def test_a_cancellation_or_renewal_closes_won_without_lines_but_other_types_need_one(org: Org) -> None:
    acct = await account(org)
    contract_id = (await org.post("/sobjects/Contract", {"AccountId": acct})).json()["id"]
    base = {"Name": "End", "AccountId": acct, "CloseDate": "2024-08-01", "ContractId": contract_id}
    cancel = await org.post("/sobjects/Opportunity", base | {"StageName": "Closed Won", "Type": "Cancellation"})
    assert cancel.status_code == 201, cancel.text
    renewal = await org.post("/sobjects/Opportunity", base | {"StageName": "Closed Won", "Type": "Renewal"})
    assert renewal.status_code == 201, renewal.text
    upgrade = base | {"StageName": "Closed Won", "Type": "Existing Customer - Upgrade"}
    assert error(await org.post("/sobjects/Opportunity", upgrade)) == (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", [])


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Type": "Upsell"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Type"]),
        ({"ContractId": "800000000000001"}, "INVALID_CROSS_REFERENCE_KEY", ["ContractId"]),
        ({"Effective_Date__c": "soon"}, "JSON_PARSER_ERROR", None),
    ],
)
async def test_amendment_fields_are_refused_as_salesforce_refuses_them(
    org: Org, body: dict[str, Any], code: str, fields: list[str] | None
) -> None:
    opp = {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-01"} | body
    assert error(await org.post("/sobjects/Opportunity", opp)) == (400, code, fields)


async def test_a_zero_quantity_line_is_refused_and_a_negative_one_accepted(org: Org) -> None:
    opp = await org.opportunity_with_line()
    zero = await org.post("/sobjects/OpportunityLineItem", {"OpportunityId": opp, "Quantity": 0, "UnitPrice": 10})
    assert error(zero) == (400, "FIELD_INTEGRITY_EXCEPTION", ["Quantity"])
    assert "nonzero" in zero.json()[0]["message"]
    negative = {"OpportunityId": opp, "Quantity": -1, "UnitPrice": 10, "ProductCode": "PLAT-SEAT"}
    line = await org.post("/sobjects/OpportunityLineItem", negative)
    assert line.status_code == 201
    to_zero = await org.patch(f"/sobjects/OpportunityLineItem/{line.json()['id']}", {"Quantity": 0})
    assert error(to_zero) == (400, "FIELD_INTEGRITY_EXCEPTION", ["Quantity"])
