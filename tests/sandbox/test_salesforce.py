"""The Salesforce emulator over real HTTP: OAuth, sObject writes and their errors, SOQL, the closed-won callout."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from sandbox.salesforce.app import create_app
from tests.support.salesforce import Org, V, login
from tests.support.servers import RunningServer


@pytest.fixture
async def org(emulators: Any, http: httpx.AsyncClient) -> Org:
    url = emulators.url("salesforce")
    assert (await http.post(f"{url}/_sandbox/reset")).status_code == 200
    return Org(url, http, await login(http, url))


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy, failing after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)
    return result


class Receiver:
    """A webhook endpoint answering the scripted statuses (then 200) and queueing what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            item = (await request.body(), request.headers.get("X-C2C-Signature", ""))
            loop.call_soon_threadsafe(self.received.put_nowait, item)
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    async def next(self) -> tuple[bytes, str]:
        return await asyncio.wait_for(self.received.get(), timeout=5)


# -- OAuth ----------------------------------------------------------------------------------------


async def test_token_endpoint_issues_a_bearer_session_for_client_credentials(
    emulators: Any, http: httpx.AsyncClient
) -> None:
    url = emulators.url("salesforce")
    form = {"grant_type": "client_credentials", "client_id": "c2c", "client_secret": "s3cret"}
    body = (await http.post(f"{url}/services/oauth2/token", data=form)).json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == url
    assert set(body) >= {"access_token", "issued_at", "signature", "id"}
    listed = await http.get(
        f"{url}{V}/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "c2c", "client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "", "client_secret": "x"}, "invalid_client_id"),
        ({"grant_type": "password", "client_id": "c2c", "client_secret": "x"}, "unsupported_grant_type"),
    ],
)
async def test_token_endpoint_refuses_bad_credentials_with_oauth_error(
    emulators: Any, http: httpx.AsyncClient, form: dict[str, str], error: str
) -> None:
    response = await http.post(f"{emulators.url('salesforce')}/services/oauth2/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == error


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-session", "Basic abc"])
async def test_data_endpoints_answer_invalid_session_without_a_valid_token(org: Org, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await org.http.get(f"{org.url}{V}/query", params={"q": "SELECT Id FROM Account"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


async def test_reset_empties_the_org_and_revokes_sessions(org: Org) -> None:
    assert (await org.post("/sobjects/Account", {"Name": "Acme"})).status_code == 201
    await org.http.post(f"{org.url}/_sandbox/reset")
    state = await org.state()
    assert state["Account"] == []
    assert state["sessionsIssued"] == 0
    assert (await org.query("SELECT Id FROM Account")).status_code == 401


# -- sObjects -------------------------------------------------------------------------------------


async def test_create_returns_an_18_char_id_with_the_key_prefix_readable_by_its_15_char_form(org: Org) -> None:
    created = await org.post("/sobjects/Account", {"Name": "Acme", "BillingCountry": "US"})
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True
    assert body["errors"] == []
    record_id = body["id"]
    assert len(record_id) == 18
    assert record_id.startswith("001")
    assert record_id.isalnum()
    fetched = await org.get(f"/sobjects/Account/{record_id[:15]}")
    assert fetched.status_code == 200
    record = fetched.json()
    assert record["Id"] == record_id
    assert record["Name"] == "Acme"
    assert record["Tax_Id__c"] is None
    assert record["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{record_id}"}
    only = (await org.get(f"/sobjects/Account/{record_id}", fields="Name")).json()
    assert set(only) == {"attributes", "Name"}


async def test_upsert_by_external_id_creates_then_updates_the_same_record(org: Org) -> None:
    first = await org.patch("/sobjects/Account/External_Key__c/acme-1", {"Name": "Acme"})
    second = await org.patch("/sobjects/Account/external_key__c/acme-1", {"Name": "Acme Corp"})
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert first.json()["id"] == second.json()["id"]
    accounts = (await org.state())["Account"]
    assert [(a["Name"], a["External_Key__c"]) for a in accounts] == [("Acme Corp", "acme-1")]
    by_key = await org.get("/sobjects/Account/External_Key__c/acme-1")
    assert by_key.json()["Id"] == first.json()["id"]


async def test_concurrent_upserts_of_one_external_id_create_exactly_one_record(org: Org) -> None:
    responses = await asyncio.gather(
        *(org.patch("/sobjects/Account/External_Key__c/race", {"Name": f"Acme {i}"}) for i in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await org.state())["Account"]) == 1


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Account", {}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Opportunity", {"Name": "D"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"]),
        ("OpportunityLineItem", {"Quantity": 1}, "REQUIRED_FIELD_MISSING", ["OpportunityId", "UnitPrice"]),
        ("Account", {"Name": "A", "Colour__c": "red"}, "INVALID_FIELD", None),
        ("Account", {"Name": "A", "Billing_Email__c": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Billing_Email__c"]),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Won-ish", "CloseDate": "2024-01-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-01", "CurrencyIsoCode": "XAU"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["CurrencyIsoCode"],
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-01", "AccountId": "nope"},
            "MALFORMED_ID",
            ["AccountId"],
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-01", "AccountId": "001000000000001"},
            "INVALID_CROSS_REFERENCE_KEY",
            ["AccountId"],
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Amount": 5},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["Amount"],
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-13-01"},
            "JSON_PARSER_ERROR",
            None,
        ),
        ("Account", {"Name": 42}, "JSON_PARSER_ERROR", None),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Closed Won", "CloseDate": "2024-01-01"},
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            [],
        ),
    ],
)
async def test_invalid_writes_answer_salesforce_error_arrays(
    org: Org, sobject: str, body: dict[str, Any], code: str, fields: list[str] | None
) -> None:
    response = await org.post(f"/sobjects/{sobject}", body)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert error["message"]
    assert error.get("fields") == fields
    assert (await org.state())[sobject] == []


async def test_a_body_that_is_not_json_is_a_parser_error(org: Org) -> None:
    response = await org.http.post(f"{org.url}{V}/sobjects/Account", content=b"{nope", headers=org.auth)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


async def test_a_second_record_with_the_same_external_key_is_a_duplicate_value(org: Org) -> None:
    assert (await org.post("/sobjects/Account", {"Name": "A", "External_Key__c": "k"})).status_code == 201
    response = await org.post("/sobjects/Account", {"Name": "B", "External_Key__c": "k"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "DUPLICATE_VALUE"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sobjects/Account/0015g0000000001AAA"),
        ("PATCH", "/sobjects/Account/0015g0000000001AAA"),
        ("GET", "/sobjects/Widget__c/0015g0000000001AAA"),
        ("PATCH", "/sobjects/Account/Name/Acme"),
        ("GET", "/sobjects/Account/External_Key__c/missing"),
    ],
)
async def test_unknown_records_objects_and_external_id_fields_are_not_found(org: Org, method: str, path: str) -> None:
    response = await org.http.request(method, f"{org.url}{V}{path}", json={"Name": "x"}, headers=org.auth)
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"


async def test_line_items_compute_total_price_and_the_opportunity_amount_exactly(org: Org) -> None:
    opp = (
        await org.post("/sobjects/Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-06-30"})
    ).json()["id"]
    for quantity, price in [(3, "19.99"), (1, "0.01")]:
        line = {"OpportunityId": opp, "Quantity": quantity, "UnitPrice": Decimal(price)}
        response = await org.http.post(
            f"{org.url}{V}/sobjects/OpportunityLineItem",
            content=json.dumps(line, default=str).replace(f'"{price}"', price),
            headers=org.auth | {"Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text
    raw = (await org.get(f"/sobjects/Opportunity/{opp}", fields="Amount")).text
    assert '"Amount":59.98' in raw
    lines = json.loads(
        (await org.query(f"SELECT TotalPrice FROM OpportunityLineItem WHERE OpportunityId = '{opp}'")).content,
        parse_float=Decimal,
    )
    assert [r["TotalPrice"] for r in lines["records"]] == [Decimal("59.97"), Decimal("0.01")]
    zero = await org.post("/sobjects/OpportunityLineItem", {"OpportunityId": opp, "Quantity": 0, "UnitPrice": 1})
    assert zero.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


async def test_closing_won_is_refused_without_line_items_and_accepted_with_one(org: Org) -> None:
    opp = (
        await org.post("/sobjects/Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-06-30"})
    ).json()["id"]
    refused = await org.patch(f"/sobjects/Opportunity/{opp}", {"StageName": "Closed Won"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    await org.post("/sobjects/OpportunityLineItem", {"OpportunityId": opp, "Quantity": 2, "UnitPrice": 5})
    accepted = await org.patch(f"/sobjects/Opportunity/{opp}", {"StageName": "Closed Won"})
    assert accepted.status_code == 204
    assert (await org.get(f"/sobjects/Opportunity/{opp}")).json()["StageName"] == "Closed Won"


# -- SOQL -----------------------------------------------------------------------------------------


async def test_query_filters_with_and_and_limit_case_insensitively(org: Org) -> None:
    for name, country in [("Acme", "US"), ("O'Brien & Co", "IE"), ("Globex", "US"), ("Initech", "DE")]:
        await org.post("/sobjects/Account", {"Name": name, "BillingCountry": country})
    body = (await org.query("select Id, name from ACCOUNT where BillingCountry = 'us'")).json()
    assert body["totalSize"] == 2
    assert body["done"] is True
    assert [r["Name"] for r in body["records"]] == ["Acme", "Globex"]
    assert set(body["records"][0]) == {"attributes", "Id", "Name"}
    assert body["records"][0]["attributes"]["type"] == "Account"
    both = (await org.query("SELECT Name FROM Account WHERE BillingCountry = 'US' AND Name != 'Acme'")).json()
    assert [r["Name"] for r in both["records"]] == ["Globex"]
    escaped = (await org.query("SELECT Name FROM Account WHERE Name = 'O\\'Brien & Co'")).json()
    assert [r["Name"] for r in escaped["records"]] == ["O'Brien & Co"]
    limited = (await org.query("SELECT Name FROM Account LIMIT 3")).json()
    assert limited["totalSize"] == 3
    nulls = (await org.query("SELECT Name FROM Account WHERE Tax_Id__c = null LIMIT 1")).json()
    assert nulls["totalSize"] == 1


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account LIMIT 2.5", "MALFORMED_QUERY"),
        ("SELECT Colour__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Colour__c = 'red'", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
        ("SELECT Id FROM Opportunity WHERE Id = 'not-an-id'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM OpportunityLineItem WHERE Quantity = '5'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
async def test_bad_queries_answer_salesforce_error_codes(org: Org, soql: str, code: str) -> None:
    response = await org.query(soql)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


async def test_large_results_page_through_next_records_url(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    url = own_server(create_app(query_batch_size=2)).url
    org = Org(url, http, await login(http, url))
    for i in range(5):
        await org.post("/sobjects/Account", {"Name": f"A{i}"})
    page = (await org.query("SELECT Name FROM Account")).json()
    names = [r["Name"] for r in page["records"]]
    while not page["done"]:
        page = (await http.get(f"{url}{page['nextRecordsUrl']}", headers=org.auth)).json()
        assert page["totalSize"] == 5
        names += [r["Name"] for r in page["records"]]
    assert names == ["A0", "A1", "A2", "A3", "A4"]
    stale = await http.get(f"{url}{V}/query/01gBOGUS-2", headers=org.auth)
    assert stale.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- closed-won callout ---------------------------------------------------------------------------


def _valid(secret: str, body: bytes, header: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def test_closed_won_callout_is_retried_until_acknowledged_with_the_same_event_id(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    receiver = Receiver(statuses=[500])
    hook_url = own_server(receiver.app).url + "/hook"
    url = own_server(create_app()).url
    configured = await http.post(f"{url}/_sandbox/webhook", json={"url": hook_url, "secret": "s3"})
    assert configured.status_code == 200
    org = Org(url, http, await login(http, url))
    opp = await org.opportunity_with_line()

    assert (await org.patch(f"/sobjects/Opportunity/{opp}", {"StageName": "Closed Won"})).status_code == 204
    (first, first_sig), (second, second_sig) = await receiver.next(), await receiver.next()
    assert first == second
    assert _valid("s3", first, first_sig)
    assert _valid("s3", second, second_sig)
    event = json.loads(first)
    assert event["eventType"] == "opportunity.closed_won"
    assert event["recordId"] == opp
    assert event["sobject"] == "Opportunity"
    assert event["stageName"] == "Closed Won"
    assert event["occurredAt"].endswith("Z")

    async def delivered() -> list[dict[str, Any]]:
        deliveries = (await org.state())["webhookDeliveries"]
        return deliveries if deliveries and deliveries[0]["delivered"] else []

    [delivery] = await eventually(delivered)
    assert delivery["eventId"] == event["eventId"]
    assert (delivery["attempts"], delivery["statusCode"]) == (2, 200)
    # Staying Closed Won is not a new transition: no second event.
    await org.patch(f"/sobjects/Opportunity/{opp}", {"Name": "Deal (renamed)"})
    await org.patch("/sobjects/Opportunity/External_Key__c/opp-1", {"StageName": "Closed Won"})
    assert len((await org.state())["webhookDeliveries"]) == 1


async def test_closed_won_by_upsert_to_an_unreachable_receiver_records_failed_attempts(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    url = own_server(create_app(webhook_url="http://127.0.0.1:9/hook")).url
    org = Org(url, http, await login(http, url))
    await org.opportunity_with_line("opp-x")
    upserted = await org.patch("/sobjects/Opportunity/External_Key__c/opp-x", {"StageName": "Closed Won"})
    assert upserted.status_code == 200

    async def gave_up() -> list[dict[str, Any]]:
        deliveries = (await org.state())["webhookDeliveries"]
        return deliveries if deliveries and deliveries[0]["attempts"] == 5 and deliveries[0]["error"] else []

    [delivery] = await eventually(gave_up)
    assert delivery["delivered"] is False
    assert delivery["statusCode"] is None


# -- audit fields and the account.changed callout -------------------------------------------------

MODSTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


async def test_every_save_moves_system_modstamp_forward_even_within_one_millisecond(org: Org) -> None:
    account = (await org.post("/sobjects/Account", {"Name": "Acme"})).json()["id"]
    created = (await org.get(f"/sobjects/Account/{account}")).json()
    assert MODSTAMP.match(created["SystemModstamp"])
    assert created["CreatedDate"] == created["LastModifiedDate"] == created["SystemModstamp"]

    stamps = [created["SystemModstamp"]]
    for _ in range(5):  # the same value each time: Salesforce still records a save
        assert (await org.patch(f"/sobjects/Account/{account}", {"Name": "Acme"})).status_code == 204
        stamps.append((await org.get(f"/sobjects/Account/{account}", fields="SystemModstamp")).json()["SystemModstamp"])
    parsed = [_stamp(stamp) for stamp in stamps]
    assert parsed == sorted(set(parsed)), stamps
    latest = (await org.get(f"/sobjects/Account/{account}")).json()
    assert latest["CreatedDate"] == created["CreatedDate"]
    assert latest["LastModifiedDate"] == latest["SystemModstamp"] == stamps[-1]


async def test_a_line_item_roll_up_moves_the_opportunitys_system_modstamp_only(org: Org) -> None:
    opp = await org.opportunity_with_line()
    before = (await org.get(f"/sobjects/Opportunity/{opp}")).json()
    await org.post("/sobjects/OpportunityLineItem", {"OpportunityId": opp, "Quantity": 1, "UnitPrice": 5})
    after = (await org.get(f"/sobjects/Opportunity/{opp}")).json()
    assert _stamp(after["SystemModstamp"]) > _stamp(before["SystemModstamp"])
    assert after["LastModifiedDate"] == before["LastModifiedDate"]


@pytest.mark.parametrize(
    ("request_kind", "code"),
    [("write", "INVALID_FIELD_FOR_INSERT_UPDATE"), ("filter", "INVALID_QUERY_FILTER_OPERATOR")],
)
async def test_audit_fields_are_read_only_and_not_filterable(org: Org, request_kind: str, code: str) -> None:
    account = (await org.post("/sobjects/Account", {"Name": "Acme"})).json()["id"]
    if request_kind == "write":
        response = await org.patch(f"/sobjects/Account/{account}", {"SystemModstamp": "2030-01-01T00:00:00.000+0000"})
    else:
        response = await org.query("SELECT Id FROM Account WHERE SystemModstamp = 2030-01-01")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


async def _org_with_receiver(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> tuple[Org, Receiver]:
    receiver = Receiver(statuses=[])
    hook_url = own_server(receiver.app).url + "/hook"
    url = own_server(create_app(webhook_url=hook_url, webhook_secret="s3")).url
    return Org(url, http, await login(http, url)), receiver


async def _account_events(org: Org) -> list[dict[str, Any]]:
    return [d for d in (await org.state())["webhookDeliveries"] if d["eventType"] == "account.changed"]


async def test_account_changed_callout_is_sent_once_per_change_of_a_watched_field(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    org, receiver = await _org_with_receiver(http, own_server)
    account = (await org.patch("/sobjects/Account/External_Key__c/acme", {"Name": "Acme"})).json()["id"]
    assert await _account_events(org) == []  # creating an account is not a change

    assert (await org.patch(f"/sobjects/Account/{account}", {"Name": "Acme Holdings"})).status_code == 204
    body, signature = await receiver.next()
    assert _valid("s3", body, signature)
    event = json.loads(body)
    record = (await org.get(f"/sobjects/Account/{account}")).json()
    assert {k: v for k, v in event.items() if k not in ("eventId", "occurredAt")} == {
        "eventType": "account.changed",
        "sobject": "Account",
        "recordId": account,
        "changedFields": ["Name"],
        "systemModstamp": record["SystemModstamp"],
    }
    assert event["occurredAt"].endswith("Z")

    moved = {"BillingCity": "Berlin", "BillingPostalCode": "10119", "Tax_Id__c": "DE123456789"}
    upserted = await org.patch("/sobjects/Account/External_Key__c/acme", moved | {"Name": "Acme Holdings"})
    assert upserted.status_code == 200
    second = json.loads((await receiver.next())[0])
    assert second["changedFields"] == ["BillingCity", "BillingPostalCode", "Tax_Id__c"]
    assert _stamp(second["systemModstamp"]) > _stamp(event["systemModstamp"])
    assert second["eventId"] != event["eventId"]
    assert [d["eventId"] for d in await _account_events(org)] == [event["eventId"], second["eventId"]]


@pytest.mark.parametrize(
    "fields",
    [
        {"Name": "Acme"},  # the same value again
        {"Billing_Email__c": "ap@acme.example"},  # not a watched field
        {"C2C_Golden_Id__c": "gc_1", "Billing_Customer_Id__c": "cus_1", "ERP_Customer_Id__c": "1001"},  # write-back
        {"BillingCity": None},  # stays empty
    ],
    ids=["unchanged", "unwatched", "write-back", "still-empty"],
)
async def test_account_updates_that_change_no_watched_field_send_nothing(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer], fields: dict[str, Any]
) -> None:
    org, _ = await _org_with_receiver(http, own_server)
    account = (await org.post("/sobjects/Account", {"Name": "Acme"})).json()["id"]
    assert (await org.patch(f"/sobjects/Account/{account}", fields)).status_code == 204
    assert await _account_events(org) == []
