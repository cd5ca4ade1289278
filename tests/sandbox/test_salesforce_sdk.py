"""The Salesforce emulator as simple-salesforce (a `dev` dependency) sees it, unmodified: its client-credentials login
against the org's My Domain, sObject create / get / get_by_custom_id / update / upsert / describe, SOQL `query`,
`query_more` and `query_all` across `nextRecordsUrl` pages, sObject Collections and Composite through `restful`,
price books with line items by `PricebookEntryId`, Salesforce's refusals as `SalesforceError`s, and a re-login when
the session times out. The SDK speaks https only, so each test has an emulator of its own served over TLS
(tests/support/tls.py); the My Domain host is routed to it as a hosts-file entry would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.server import build_app
from tests.support.sdk import vendor_sdk
from tests.support.tls import client_context, serve_tls, trusting_session

simple_salesforce = vendor_sdk("simple_salesforce")

MY_DOMAIN = "c2c-sandbox.my"  # the SDK's client-credentials flow needs a My Domain: https://{domain}.salesforce.com


class Emulator:
    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = httpx.Client(base_url=url, verify=client_context())

    def login(self) -> Any:
        """The SDK logged in with the OAuth 2.0 client-credentials flow (HTTP Basic client authentication)."""
        session = trusting_session({f"https://{MY_DOMAIN}.salesforce.com": self.url})
        return simple_salesforce.Salesforce(
            consumer_key="c2c-sdk", consumer_secret="sandbox-secret", domain=MY_DOMAIN, session=session
        )

    def with_session(self, token: str) -> Any:
        """The SDK on an access token obtained elsewhere (instance_url + session_id)."""
        return simple_salesforce.Salesforce(instance_url=self.url, session_id=token, session=trusting_session())


@pytest.fixture
def org() -> Any:
    running = serve_tls(build_app("salesforce", query_batch_size=3))
    emulator = Emulator(running.url)
    yield emulator
    emulator.admin.close()
    running.stop()


def opportunity(sf: Any, name: str = "SDK deal", **fields: Any) -> str:
    account = sf.Account.create({"Name": f"{name} Inc."})["id"]
    body = {"Name": name, "AccountId": account, "StageName": "Prospecting", "CloseDate": "2024-06-30"} | fields
    return str(sf.Opportunity.create(body)["id"])


def refusal(error: Any) -> tuple[int, str, list[str] | None]:
    body = error.content[0]
    return error.status, body["errorCode"], body.get("fields")


def test_client_credentials_login_and_standard_fields_round_trip(org: Emulator) -> None:
    sf = org.login()
    assert sf.base_url.startswith(org.url)  # the token answer's instance_url
    created = sf.Account.create({"Name": "Initech", "BillingCountry": "US", "External_Key__c": "sdk-acct-1"})
    assert created["success"] is True
    assert created["id"].startswith("001")
    assert len(created["id"]) == 18
    assert sf.Account.get(created["id"])["Name"] == "Initech"
    assert sf.Account.get_by_custom_id("External_Key__c", "sdk-acct-1")["Id"] == created["id"]
    assert sf.Account.update(created["id"], {"BillingCity": "Austin"}) == 204
    assert sf.Account.upsert("External_Key__c/sdk-acct-1", {"Name": "Initech LLC"}) == 200  # found: updated
    assert sf.Account.upsert("External_Key__c/sdk-acct-2", {"Name": "Globex"}) == 201  # not found: created
    record = sf.Account.get(created["id"])
    assert (record["Name"], record["BillingCity"], record["attributes"]["type"]) == ("Initech LLC", "Austin", "Account")

    contract = sf.Contract.create({"AccountId": created["id"], "StartDate": "2024-01-31", "ContractTerm": 12})
    assert sf.Contract.update(contract["id"], {"Status": "Activated"}) == 204
    assert sf.Contract.get(contract["id"])["EndDate"] == "2025-01-30"
    deal = opportunity(sf, Type="New Customer", CurrencyIsoCode="EUR")
    assert sf.Opportunity.get(deal)["CurrencyIsoCode"] == "EUR"


def test_describe_reports_the_fields_and_their_rules(org: Emulator) -> None:
    sf = org.login()
    names = {item["name"] for item in sf.describe()["sobjects"]}
    assert {"Account", "Opportunity", "OpportunityLineItem", "Contract", "Product2", "Pricebook2"} <= names
    fields = {field["name"]: field for field in sf.Opportunity.describe()["fields"]}
    assert fields["StageName"]["type"] == "picklist"
    assert not fields["StageName"]["nillable"]
    assert "Closed Won" in [value["value"] for value in fields["StageName"]["picklistValues"]]
    assert fields["Amount"]["createable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["External_Key__c"]["externalId"] is True
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"


def test_refusals_are_salesforce_errors_with_the_error_body(org: Emulator) -> None:
    sf = org.login()
    with pytest.raises(simple_salesforce.SalesforceError) as missing:
        sf.Opportunity.create({"Name": "No stage"})
    assert refusal(missing.value)[:2] == (400, "REQUIRED_FIELD_MISSING")
    assert set(refusal(missing.value)[2] or []) == {"StageName", "CloseDate"}
    with pytest.raises(simple_salesforce.SalesforceError) as read_only:
        sf.Opportunity.update(opportunity(sf), {"Amount": 5})
    assert refusal(read_only.value) == (400, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Amount"])
    with pytest.raises(simple_salesforce.SalesforceError) as unknown:
        sf.Account.get("001000000000000AAA")
    assert unknown.value.status == 404
    with pytest.raises(simple_salesforce.SalesforceError) as malformed:
        sf.query("SELECT Id FROM Account WHERE")
    assert refusal(malformed.value)[:2] == (400, "MALFORMED_QUERY")


def test_soql_query_pages_follow_next_records_url(org: Emulator) -> None:
    sf = org.login()
    for n in range(7):
        sf.Account.create({"Name": f"Paged {n}", "BillingCountry": "DE"})
    first = sf.query("SELECT Id, Name FROM Account WHERE BillingCountry = 'DE'")
    assert (first["totalSize"], first["done"], len(first["records"])) == (7, False, 3)  # batch size 3
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 3
    assert second["done"] is False
    everything = sf.query_all("SELECT Id, Name FROM Account WHERE BillingCountry = 'DE'")
    assert everything["totalSize"] == 7
    assert sorted(r["Name"] for r in everything["records"]) == [f"Paged {n}" for n in range(7)]
    assert len(list(sf.query_all_iter("SELECT Id FROM Account WHERE BillingCountry = 'DE'"))) == 7


def pricebook(sf: Any, code: str = "PLAT-SEAT", currency: str = "USD") -> tuple[str, str, str]:
    """(standard price book id, product id, its active standard entry id in `currency`)."""
    standard = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    product = sf.Product2.create({"Name": "Platform seat", "ProductCode": code, "IsActive": True})["id"]
    entry = {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 49, "IsActive": True}
    return standard, product, sf.PricebookEntry.create(entry | {"CurrencyIsoCode": currency})["id"]


def test_a_line_item_from_a_pricebook_entry_takes_its_product_and_sets_the_price_book(org: Emulator) -> None:
    sf = org.login()
    standard, product, entry = pricebook(sf)
    assert sf.PricebookEntry.get(entry)["ProductCode"] == "PLAT-SEAT"
    deal = opportunity(sf)
    line = sf.OpportunityLineItem.create(
        {"OpportunityId": deal, "PricebookEntryId": entry, "Quantity": 3, "UnitPrice": 45}
    )
    row = sf.query(f"SELECT ProductCode, Product2Id, TotalPrice FROM OpportunityLineItem WHERE Id = '{line['id']}'")
    assert [(r["ProductCode"], r["Product2Id"], r["TotalPrice"]) for r in row["records"]] == [
        ("PLAT-SEAT", product, 135)
    ]
    assert sf.Opportunity.get(deal)["Pricebook2Id"] == standard
    assert sf.Opportunity.get(deal)["Amount"] == 135


def test_price_book_rules_are_refused_as_salesforce_refuses_them(org: Emulator) -> None:
    sf = org.login()
    standard, product, usd_entry = pricebook(sf)
    custom = sf.Pricebook2.create({"Name": "Partners", "IsActive": True})["id"]
    with pytest.raises(simple_salesforce.SalesforceError) as unpriced:  # no standard EUR price yet
        sf.PricebookEntry.create(
            {"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 40, "CurrencyIsoCode": "EUR"}
        )
    assert refusal(unpriced.value)[:2] == (400, "STANDARD_PRICE_NOT_DEFINED")
    with pytest.raises(simple_salesforce.SalesforceError) as twice:
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 1, "IsActive": True})
    assert refusal(twice.value)[:2] == (400, "DUPLICATE_VALUE")
    partner_entry = sf.PricebookEntry.create(
        {"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 40, "IsActive": True}
    )
    with pytest.raises(simple_salesforce.SalesforceError) as standard_flag:
        sf.Pricebook2.create({"Name": "Second standard", "IsStandard": True})
    assert refusal(standard_flag.value) == (400, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsStandard"])

    deal = opportunity(sf)
    sf.OpportunityLineItem.create(
        {"OpportunityId": deal, "PricebookEntryId": usd_entry, "Quantity": 1, "UnitPrice": 49}
    )
    cases = [
        ({"PricebookEntryId": partner_entry["id"]}, "FIELD_INTEGRITY_EXCEPTION"),  # another price book than the deal's
        ({"PricebookEntryId": usd_entry, "ProductCode": "OTHER"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),  # derived
    ]
    for fields, code in cases:
        with pytest.raises(simple_salesforce.SalesforceError) as refused:
            sf.OpportunityLineItem.create({"OpportunityId": deal, "Quantity": 1, "UnitPrice": 1} | fields)
        assert refusal(refused.value)[:2] == (400, code)
    euro_deal = opportunity(sf, "Euro deal", CurrencyIsoCode="EUR")
    with pytest.raises(simple_salesforce.SalesforceError) as currency:
        sf.OpportunityLineItem.create(
            {"OpportunityId": euro_deal, "PricebookEntryId": usd_entry, "Quantity": 1, "UnitPrice": 1}
        )
    assert refusal(currency.value) == (400, "FIELD_INTEGRITY_EXCEPTION", ["PricebookEntryId"])
    assert "currency code does not match" in currency.value.content[0]["message"]
    sf.PricebookEntry.update(usd_entry, {"IsActive": False})
    with pytest.raises(simple_salesforce.SalesforceError) as inactive:
        sf.OpportunityLineItem.create(
            {"OpportunityId": deal, "PricebookEntryId": usd_entry, "Quantity": 1, "UnitPrice": 1}
        )
    assert "inactive" in inactive.value.content[0]["message"]


def test_sobject_collections_create_all_or_none_and_update(org: Emulator) -> None:
    sf = org.login()
    accounts = [{"attributes": {"type": "Account"}, "Name": f"Batch {n}"} for n in range(3)]
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": accounts})
    assert [item["success"] for item in created] == [True, True, True]
    ids = [item["id"] for item in created]
    bad = [{"attributes": {"type": "Account"}, "Name": "Kept?"}, {"attributes": {"type": "Account"}}]
    refused = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": bad})
    assert [item["errors"][0]["statusCode"] for item in refused] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
    ]
    assert sf.query("SELECT Id FROM Account WHERE Name = 'Kept?'")["totalSize"] == 0
    partial = sf.restful("composite/sobjects", method="POST", json={"records": bad})
    assert [item["success"] for item in partial] == [True, False]

    updates = [{"attributes": {"type": "Account"}, "Id": ids[0], "BillingCity": "Berlin"}]
    assert sf.restful("composite/sobjects", method="PATCH", json={"records": updates})[0]["success"] is True
    rows = sf.restful("composite/sobjects/Account", params={"ids": f"{ids[0]},{ids[1]}", "fields": "Id,BillingCity"})
    assert [row["BillingCity"] for row in rows] == ["Berlin", None]


def test_composite_subrequests_reference_earlier_results(org: Emulator) -> None:
    sf = org.login()
    _, _, entry = pricebook(sf)
    version = f"/services/data/v{sf.sf_version}"
    request = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{version}/sobjects/Account",
                "referenceId": "acct",
                "body": {"Name": "Composite Co"},
            },
            {
                "method": "POST",
                "url": f"{version}/sobjects/Opportunity",
                "referenceId": "opp",
                "body": {
                    "Name": "Composite deal",
                    "AccountId": "@{acct.id}",
                    "StageName": "Prospecting",
                    "CloseDate": "2024-06-30",
                },
            },
            {
                "method": "POST",
                "url": f"{version}/sobjects/OpportunityLineItem",
                "referenceId": "line",
                "body": {"OpportunityId": "@{opp.id}", "PricebookEntryId": entry, "Quantity": 2, "UnitPrice": 49},
            },
            {
                "method": "GET",
                "url": f"{version}/sobjects/Opportunity/@{{opp.id}}?fields=Amount",
                "referenceId": "read",
            },
        ],
    }
    answers = sf.restful("composite", method="POST", json=request)["compositeResponse"]
    assert [a["httpStatusCode"] for a in answers] == [201, 201, 201, 200]
    assert answers[3]["body"]["Amount"] == 98

    request["compositeRequest"][2]["body"] = {"OpportunityId": "@{opp.id}", "Quantity": 0, "UnitPrice": 1}
    request["compositeRequest"][0]["body"] = {"Name": "Rolled back Co"}
    failed = sf.restful("composite", method="POST", json=request)["compositeResponse"]
    assert [a["httpStatusCode"] for a in failed] == [400, 400, 400, 400]
    assert failed[2]["body"][0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert failed[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT Id FROM Account WHERE Name = 'Rolled back Co'")["totalSize"] == 0


def test_a_timed_out_session_is_renewed_by_the_sdks_login_and_refused_without_one(org: Emulator) -> None:
    sf = org.login()
    account = sf.Account.create({"Name": "Before timeout"})["id"]
    token = sf.session_id
    assert org.admin.post("/_sandbox/sessions/expire").json()["expired"] >= 1
    assert sf.Account.get(account)["Name"] == "Before timeout"  # 401 INVALID_SESSION_ID, then a fresh login
    assert sf.session_id != token
    stale = org.with_session(token)  # an access token alone cannot log in again
    with pytest.raises(simple_salesforce.SalesforceExpiredSession):
        stale.Account.get(account)
