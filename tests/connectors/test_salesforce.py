"""SalesforceCrm against the Salesforce emulator over real HTTP, and the closed-won webhook verifier."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from canonical import AccountSnapshot, Address, BillingPeriod, Customer, Deal, DealLine, Money
from connectors.errors import BusinessRuleError, PermanentError, TransientError, UncertainOutcome
from connectors.roles import CrmSystem
from connectors.salesforce import (
    AccountChangedEvent,
    ClosedWonEvent,
    InvalidWebhook,
    SalesforceCrm,
    verify_closed_won,
    verify_crm_event,
)
from sandbox.salesforce.app import create_app
from tests.support.servers import RunningServer

DATA = "/services/data/v60.0"


@pytest.fixture
async def url(emulators: Any, http: httpx.AsyncClient) -> str:
    base = emulators.url("salesforce")
    await http.post(f"{base}/_sandbox/reset")
    await http.delete(f"{base}/_sandbox/faults")
    return base


@pytest.fixture
def crm(http: httpx.AsyncClient, url: str) -> SalesforceCrm:
    return SalesforceCrm(http, url, "c2c-integration", "sandbox-secret")


async def state(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    return (await http.get(f"{url}/_sandbox/state")).json()


async def arm(http: httpx.AsyncClient, url: str, **rule: Any) -> None:
    assert (await http.post(f"{url}/_sandbox/faults", json=rule)).status_code == 200


async def seed_deal(
    crm: SalesforceCrm,
    key: str,
    *,
    currency: str = "USD",
    lines: tuple[tuple[str, int, Decimal | int], ...] = (("PLAT-SEAT", 10, Decimal("49.00")),),
    account: dict[str, Any] | None = None,
    opportunity: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Upsert an account, an opportunity and its lines the way the demo seeds them; (opp id, account id)."""
    account_fields = {
        "Name": "Acme Inc.",
        "Tax_Id__c": "US-12-3456789",
        "Billing_Email__c": "ap@acme.example",
        "BillingStreet": "1 Main St\nSuite 200",
        "BillingCity": "Springfield",
        "BillingState": "IL",
        "BillingPostalCode": "62701",
        "BillingCountry": "US",
    } | (account or {})
    account_id = await crm.upsert("Account", "External_Key__c", f"{key}-acct", account_fields)
    opp_fields = {
        "Name": f"{key} deal",
        "AccountId": account_id,
        "StageName": "Negotiation/Review",
        "CloseDate": date(2024, 6, 28),
        "CurrencyIsoCode": currency,
        "Legal_Entity__c": "US01",
        "Term_Months__c": 12,
        "Billing_Period__c": "Monthly",
    } | (opportunity or {})
    stage = opp_fields.pop("StageName")
    opp_id = await crm.upsert("Opportunity", "External_Key__c", key, opp_fields | {"StageName": "Prospecting"})
    for number, (code, quantity, price) in enumerate(lines, start=1):
        line = {"OpportunityId": opp_id, "ProductCode": code, "Quantity": quantity, "UnitPrice": price}
        await crm.upsert("OpportunityLineItem", "External_Key__c", f"{key}-{number}", line)
    await crm.update("Opportunity", opp_id, {"StageName": stage})
    return opp_id, account_id


# -- seeding helpers ------------------------------------------------------------------------------


async def test_connector_satisfies_the_crm_role(crm: SalesforceCrm) -> None:
    role: CrmSystem = crm
    assert role.system == "salesforce"


async def test_second_upsert_of_an_external_id_returns_the_same_record(
    crm: SalesforceCrm, http: httpx.AsyncClient, url: str
) -> None:
    first = await crm.upsert("Account", "External_Key__c", "acme", {"Name": "Acme"})
    second = await crm.upsert("Account", "External_Key__c", "acme", {"Name": "Acme Inc."})
    assert first == second
    assert first.startswith("001")
    assert [(a["Id"], a["Name"]) for a in (await state(http, url))["Account"]] == [(first, "Acme Inc.")]


async def test_query_returns_records_and_follows_next_records_url(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    paged = SalesforceCrm(http, own_server(create_app(query_batch_size=2)).url, "c2c", "sandbox-secret")
    ids = [await paged.upsert("Account", "External_Key__c", f"k{i}", {"Name": f"A{i}"}) for i in range(5)]
    rows = await paged.query("SELECT Id, Name FROM Account")
    assert [(r["Id"], r["Name"]) for r in rows] == [(record_id, f"A{i}") for i, record_id in enumerate(ids)]
    assert rows[0]["attributes"]["type"] == "Account"


async def test_update_changes_fields_of_a_record(crm: SalesforceCrm) -> None:
    record_id = await crm.upsert("Account", "External_Key__c", "acme", {"Name": "Acme"})
    await crm.update("Account", record_id, {"Tax_Id__c": "DE123456789"})
    [row] = await crm.query(f"SELECT Tax_Id__c FROM Account WHERE Id = '{record_id}'")
    assert row["Tax_Id__c"] == "DE123456789"


# -- get_deal -------------------------------------------------------------------------------------


async def test_get_deal_maps_a_usd_opportunity_with_account_and_lines(crm: SalesforceCrm) -> None:
    opp_id, account_id = await seed_deal(
        crm,
        "usd",
        lines=(("PLAT-SEAT", 10, Decimal("49.00")), ("ANALYTICS", 1, Decimal("199.99"))),
        opportunity={"StageName": "Closed Won"},
    )
    deal = await crm.get_deal(opp_id)
    assert deal == Deal(
        crm="salesforce",
        deal_id=opp_id,
        name="usd deal",
        stage="Closed Won",
        closed_won=True,
        close_date=date(2024, 6, 28),
        currency="USD",
        legal_entity="US01",
        term_months=12,
        billing_period=BillingPeriod.MONTH,
        customer=Customer(
            golden_id=None,
            legal_name="Acme Inc.",
            tax_id="US-12-3456789",
            email="ap@acme.example",
            address=Address(
                line1="1 Main St", line2="Suite 200", city="Springfield", region="IL", postal_code="62701", country="US"
            ),
            external_refs={"salesforce": account_id},
        ),
        lines=[
            DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=Money(amount=49_00, currency="USD")),
            DealLine(product_code="ANALYTICS", quantity=1, unit_price=Money(amount=199_99, currency="USD")),
        ],
    )
    assert deal.period_amount == Money(amount=689_99, currency="USD")


async def test_get_deal_maps_a_eur_annual_deal_still_open(crm: SalesforceCrm) -> None:
    opp_id, _ = await seed_deal(
        crm,
        "eur",
        currency="EUR",
        lines=(("SUPPORT-PREM", 2, Decimal("4600.5")),),
        account={
            "BillingStreet": "Torstrasse 1",
            "BillingCity": "Berlin",
            "BillingState": None,
            "BillingPostalCode": "10119",
            "BillingCountry": "DE",
        },
        opportunity={"Legal_Entity__c": "DE01", "Term_Months__c": 24, "Billing_Period__c": "Annual"},
    )
    deal = await crm.get_deal(opp_id[:15])
    assert deal.deal_id == opp_id
    assert (deal.currency, deal.billing_period, deal.term_months) == ("EUR", BillingPeriod.YEAR, 24)
    assert deal.closed_won is False
    assert deal.stage == "Negotiation/Review"
    assert deal.lines[0].unit_price == Money(amount=4600_50, currency="EUR")
    assert deal.customer.address == Address(line1="Torstrasse 1", city="Berlin", postal_code="10119", country="DE")


async def test_get_deal_maps_jpy_prices_without_minor_units(crm: SalesforceCrm) -> None:
    opp_id, _ = await seed_deal(crm, "jpy", currency="JPY", lines=(("PLAT-SEAT", 3, 7200),))
    deal = await crm.get_deal(opp_id)
    assert deal.lines[0].unit_price == Money(amount=7200, currency="JPY")
    assert deal.period_amount == Money(amount=21600, currency="JPY")


async def test_get_deal_carries_the_golden_id_once_written_back(crm: SalesforceCrm) -> None:
    opp_id, account_id = await seed_deal(crm, "golden")
    await crm.write_back_account(account_id, {"golden_id": "cus_golden_1"})
    assert (await crm.get_deal(opp_id)).customer.golden_id == "cus_golden_1"


@pytest.mark.parametrize("deal_id", ["0065g0000ZZZZZZAAA", "0065g0000ZZZZZZ", "0065g0000ZZZZZZXYZ", "1' OR Name != '"])
async def test_get_deal_of_an_unknown_or_malformed_id_is_deal_not_found(crm: SalesforceCrm, deal_id: str) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_deal(deal_id)
    assert caught.value.code == "deal_not_found"


async def test_get_deal_of_an_account_id_is_deal_not_found(crm: SalesforceCrm) -> None:
    _, account_id = await seed_deal(crm, "acct")
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_deal(account_id)
    assert caught.value.code == "deal_not_found"


@pytest.mark.parametrize(
    ("seed", "problem"),
    [
        ({"currency": "BRL"}, "unsupported currency 'BRL'"),
        ({"account": {"BillingCity": None, "BillingPostalCode": ""}}, "missing BillingCity, BillingPostalCode"),
        ({"account": {"BillingCountry": "United States"}}, "BillingCountry 'United States'"),
        ({"lines": (("PLAT-SEAT", 1, Decimal("-5.00")),)}, "UnitPrice is negative"),
        ({"currency": "JPY", "lines": (("PLAT-SEAT", 1, Decimal("7200.5")),)}, "more decimals than JPY allows"),
        ({"lines": (("PLAT-SEAT", Decimal("1.5"), 10),)}, "Quantity must be a whole number"),
        ({"lines": ((None, 1, 10),)}, "ProductCode is empty"),
        ({"lines": ()}, "has no line items"),
        ({"opportunity": {"Billing_Period__c": None}}, "Billing_Period__c None"),
        ({"opportunity": {"Legal_Entity__c": None}}, "Legal_Entity__c is empty"),
        ({"opportunity": {"AccountId": None}}, "has no AccountId"),
        ({"opportunity": {"Term_Months__c": 5, "Billing_Period__c": "Annual"}}, "term of 5 months"),
        ({"account": {"Billing_Email__c": None, "Name": "  "}}, "Account.Name is empty"),
    ],
)
async def test_get_deal_of_an_unmappable_record_is_invalid_deal_naming_the_problem(
    crm: SalesforceCrm, seed: dict[str, Any], problem: str
) -> None:
    opp_id, _ = await seed_deal(crm, "bad", **seed)
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_deal(opp_id)
    assert caught.value.code == "invalid_deal"
    assert problem in caught.value.message


# -- write_back_account ---------------------------------------------------------------------------


async def test_write_back_account_is_idempotent(crm: SalesforceCrm, http: httpx.AsyncClient, url: str) -> None:
    _, account_id = await seed_deal(crm, "wb")
    refs = {"golden_id": "gc_1", "billing_id": "cus_123", "erp_id": "4711"}
    await crm.write_back_account(account_id, refs)
    await crm.write_back_account(account_id, refs)
    [account] = (await state(http, url))["Account"]
    assert (account["Id"], account["C2C_Golden_Id__c"], account["Billing_Customer_Id__c"]) == (
        account_id,
        "gc_1",
        "cus_123",
    )
    assert account["ERP_Customer_Id__c"] == "4711"


async def test_write_back_account_refuses_an_unknown_ref_key_and_an_unknown_account(crm: SalesforceCrm) -> None:
    _, account_id = await seed_deal(crm, "wb2")
    with pytest.raises(PermanentError) as unknown_key:
        await crm.write_back_account(account_id, {"crm_id": "x"})
    assert unknown_key.value.code == "unknown_ref"
    with pytest.raises(PermanentError) as unknown_account:
        await crm.write_back_account("0015g0000ZZZZZZAAA", {"golden_id": "gc_1"})
    assert (unknown_account.value.code, unknown_account.value.status) == ("NOT_FOUND", 404)


# -- session handling -----------------------------------------------------------------------------


async def test_an_expired_session_is_replaced_by_one_fresh_login(
    crm: SalesforceCrm, http: httpx.AsyncClient, url: str
) -> None:
    await crm.upsert("Account", "External_Key__c", "before", {"Name": "Before"})
    await http.post(f"{url}/_sandbox/reset")  # revokes every session, like an expired token
    await crm.upsert("Account", "External_Key__c", "after", {"Name": "After"})
    org = await state(http, url)
    assert [a["Name"] for a in org["Account"]] == ["After"]
    assert org["sessionsIssued"] == 1


async def test_a_second_401_after_a_fresh_login_is_permanent(
    crm: SalesforceCrm, http: httpx.AsyncClient, url: str
) -> None:
    await crm.query("SELECT Id FROM Account")
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    await arm(http, url, kind="status", status=401, body=expired, path_prefix=f"{DATA}/query", times=2)
    with pytest.raises(PermanentError) as caught:
        await crm.query("SELECT Id FROM Account")
    assert (caught.value.code, caught.value.status) == ("auth", 401)  # as NetSuite's connector names it
    assert "INVALID_SESSION_ID" in caught.value.message
    assert (await state(http, url))["sessionsIssued"] == 2


async def test_wrong_client_secret_is_permanent_auth(http: httpx.AsyncClient, url: str) -> None:
    with pytest.raises(PermanentError) as caught:
        await SalesforceCrm(http, url, "c2c", "wrong").query("SELECT Id FROM Account")
    assert caught.value.code == "auth"
    assert "invalid_client" in caught.value.message


async def test_a_lost_token_response_is_transient(url: str) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as short:
        lossy = SalesforceCrm(short, url, "c2c", "sandbox-secret")
        async with httpx.AsyncClient() as admin:
            await arm(admin, url, kind="delay_after", seconds=1.0, path_prefix="/services/oauth2/token")
        with pytest.raises(TransientError) as caught:
            await lossy.query("SELECT Id FROM Account")
    assert caught.value.code == "token_unavailable"


# -- lost responses -------------------------------------------------------------------------------


async def test_a_lost_upsert_response_is_uncertain_and_the_retry_creates_no_second_record(
    http: httpx.AsyncClient, url: str
) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as short:
        crm = SalesforceCrm(short, url, "c2c", "sandbox-secret")
        await crm.query("SELECT Id FROM Account")  # log in before the fault is armed
        await arm(http, url, kind="delay_after", seconds=1.0, method="PATCH", path_prefix=f"{DATA}/sobjects/Account")
        with pytest.raises(UncertainOutcome):
            await crm.upsert("Account", "External_Key__c", "lost", {"Name": "Lost Response Ltd"})
        retried = await crm.upsert("Account", "External_Key__c", "lost", {"Name": "Lost Response Ltd"})
    accounts = (await state(http, url))["Account"]
    assert [(a["Id"], a["External_Key__c"]) for a in accounts] == [(retried, "lost")]


# -- classify -------------------------------------------------------------------------------------


def _sf_error(code: str) -> list[dict[str, str]]:
    return [{"message": f"{code} happened", "errorCode": code}]


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "code", "retry_after"),
    [
        (403, _sf_error("REQUEST_LIMIT_EXCEEDED"), {}, TransientError, "REQUEST_LIMIT_EXCEEDED", None),
        (403, _sf_error("INSUFFICIENT_ACCESS"), {}, PermanentError, "INSUFFICIENT_ACCESS", None),
        (400, _sf_error("UNABLE_TO_LOCK_ROW"), {"Retry-After": "2"}, TransientError, "UNABLE_TO_LOCK_ROW", 2.0),
        (429, _sf_error("REQUEST_LIMIT_EXCEEDED"), {"Retry-After": "7"}, TransientError, "REQUEST_LIMIT_EXCEEDED", 7.0),
        (503, _sf_error("SERVER_UNAVAILABLE"), {"Retry-After": "30"}, TransientError, "SERVER_UNAVAILABLE", 30.0),
        (500, _sf_error("UNKNOWN_EXCEPTION"), {}, TransientError, "UNKNOWN_EXCEPTION", None),
        (502, "<html>Bad Gateway</html>", {}, TransientError, "http_502", None),
        (
            400,
            _sf_error("FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            {},
            BusinessRuleError,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            None,
        ),
        (400, _sf_error("STRING_TOO_LONG"), {}, PermanentError, "STRING_TOO_LONG", None),
        (404, _sf_error("NOT_FOUND"), {}, PermanentError, "NOT_FOUND", None),
    ],
)
async def test_classify_maps_injected_salesforce_errors(
    crm: SalesforceCrm,
    http: httpx.AsyncClient,
    url: str,
    status: int,
    body: Any,
    headers: dict[str, str],
    error_type: type[Exception],
    code: str,
    retry_after: float | None,
) -> None:
    await crm.query("SELECT Id FROM Account")
    await arm(http, url, kind="status", status=status, body=body, headers=headers, path_prefix=f"{DATA}/")
    with pytest.raises(error_type) as caught:
        await crm.upsert("Account", "External_Key__c", "x", {"Name": "X"})
    error = caught.value
    assert type(error) is error_type
    assert (error.code, error.status) == (code, status)  # type: ignore[attr-defined]
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after


async def test_classify_maps_real_emulator_errors(crm: SalesforceCrm) -> None:
    opp_id = await crm.upsert(
        "Opportunity", "External_Key__c", "o", {"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-31"}
    )
    with pytest.raises(BusinessRuleError) as validation:
        await crm.update("Opportunity", opp_id, {"StageName": "Closed Won"})
    assert validation.value.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    with pytest.raises(PermanentError) as malformed:
        await crm.query("SELECT Id FROM Opportunity WHERE")
    assert malformed.value.code == "MALFORMED_QUERY"
    with pytest.raises(PermanentError) as invalid_field:
        await crm.query("SELECT Colour__c FROM Account")
    assert invalid_field.value.code == "INVALID_FIELD"
    with pytest.raises(PermanentError) as required:
        await crm.upsert("Account", "External_Key__c", "nameless", {"Tax_Id__c": "1"})
    assert required.value.code == "REQUIRED_FIELD_MISSING"
    assert "fields: Name" in required.value.message
    with pytest.raises(PermanentError) as missing:
        await crm.update("Opportunity", "0065g0000ZZZZZZAAA", {"Name": "x"})
    assert missing.value.code == "NOT_FOUND"


# -- closed-won webhook ---------------------------------------------------------------------------


async def test_closing_a_deal_delivers_a_webhook_that_verifies(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[tuple[bytes, str | None]] = asyncio.Queue()
    receiver = FastAPI()

    @receiver.post("/crm/salesforce")
    async def hook(request: Request) -> Response:
        loop.call_soon_threadsafe(received.put_nowait, (await request.body(), request.headers.get("X-C2C-Signature")))
        return Response(status_code=202)

    hook_url = own_server(receiver).url + "/crm/salesforce"
    crm = SalesforceCrm(http, own_server(create_app(webhook_url=hook_url, webhook_secret="whsec_test")).url, "c", "s")
    opp_id, _ = await seed_deal(crm, "hook", opportunity={"StageName": "Closed Won"})

    body, signature = await asyncio.wait_for(received.get(), timeout=5)
    event = verify_closed_won(body, signature, "whsec_test")
    assert (event.event_type, event.record_id, event.stage_name) == ("opportunity.closed_won", opp_id, "Closed Won")
    assert abs((datetime.now(UTC) - event.occurred_at).total_seconds()) < 60
    assert (await crm.get_deal(event.record_id)).closed_won is True
    with pytest.raises(InvalidWebhook):
        verify_closed_won(body, signature, "whsec_other")


# -- verify_closed_won ----------------------------------------------------------------------------

SECRET = "whsec_crm_sandbox"
NOW = 1_717_000_000
EVENT = {
    "eventId": "4c1f1a8e-0d4e-4f55-9a3b-2b7f6d0c9e11",
    "eventType": "opportunity.closed_won",
    "sobject": "Opportunity",
    "recordId": "0065g0000DTVD3FAQX",
    "stageName": "Closed Won",
    "occurredAt": "2024-05-29T16:26:40.000Z",
}


def signed(body: bytes, timestamp: int = NOW, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_verify_closed_won_returns_the_event_for_a_fresh_valid_signature() -> None:
    body = json.dumps(EVENT).encode()
    rotated = f"{signed(body)},v1={'0' * 64}"
    event = verify_closed_won(body, rotated, SECRET, now=NOW + 299)
    assert event == ClosedWonEvent(
        event_id=EVENT["eventId"],
        event_type="opportunity.closed_won",
        record_id="0065g0000DTVD3FAQX",
        stage_name="Closed Won",
        occurred_at=datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC),
    )
    assert verify_closed_won(body, signed(body, int(time.time())), SECRET).event_id == EVENT["eventId"]


def _without(name: str) -> bytes:
    return json.dumps({k: v for k, v in EVENT.items() if k != name}).encode()


@pytest.mark.parametrize(
    ("body", "header", "problem"),
    [
        (json.dumps(EVENT).encode(), None, "missing X-C2C-Signature header"),
        (json.dumps(EVENT).encode(), "", "missing X-C2C-Signature header"),
        (json.dumps(EVENT).encode(), "sha256=abc", "malformed X-C2C-Signature header"),
        (json.dumps(EVENT).encode(), "t=abc,v1=00", "malformed X-C2C-Signature header"),
        (json.dumps(EVENT).encode(), f"t={NOW}", "malformed X-C2C-Signature header"),
        (json.dumps(EVENT).encode(), "garbage", "malformed X-C2C-Signature header"),
        (json.dumps(EVENT).encode(), signed(b"{}"), "signature does not match"),
        (json.dumps(EVENT).encode(), signed(json.dumps(EVENT).encode(), secret="other"), "signature does not match"),
        (json.dumps(EVENT).encode(), signed(json.dumps(EVENT).encode(), NOW - 301), "outside the tolerance"),
        (json.dumps(EVENT).encode(), signed(json.dumps(EVENT).encode(), NOW + 301), "outside the tolerance"),
        (b"{not json", signed(b"{not json"), "malformed JSON"),
        (b"[]", signed(b"[]"), "malformed JSON body: not an object"),
        (_without("eventId"), signed(_without("eventId")), "missing fields: eventId"),
        (_without("recordId"), signed(_without("recordId")), "missing fields: recordId"),
        (
            json.dumps(EVENT | {"eventType": "opportunity.updated"}).encode(),
            signed(json.dumps(EVENT | {"eventType": "opportunity.updated"}).encode()),
            "unexpected eventType 'opportunity.updated'",
        ),
        (
            json.dumps(EVENT | {"occurredAt": "2024-05-29T16:26:40"}).encode(),
            signed(json.dumps(EVENT | {"occurredAt": "2024-05-29T16:26:40"}).encode()),
            "invalid event: occurredAt",
        ),
    ],
)
def test_verify_closed_won_rejects_naming_the_problem(body: bytes, header: str | None, problem: str) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        verify_closed_won(body, header, SECRET, now=NOW)
    assert problem in str(caught.value)


# -- get_account ----------------------------------------------------------------------------------


async def test_get_account_maps_the_customer_as_get_deal_does_with_its_modstamp(crm: SalesforceCrm) -> None:
    opp_id, account_id = await seed_deal(crm, "acct-snap")
    first = await crm.get_account(account_id)
    assert first == AccountSnapshot(customer=(await crm.get_deal(opp_id)).customer, modified_at=first.modified_at)
    assert first.customer.external_refs == {"salesforce": account_id}
    assert first.modified_at.tzinfo is not None

    await crm.update("Account", account_id, {"Name": "Acme Holdings Inc.", "BillingCity": "Chicago", "Tax_Id__c": None})
    second = await crm.get_account(account_id[:15])
    assert second.modified_at > first.modified_at
    assert (second.customer.legal_name, second.customer.address.city, second.customer.tax_id) == (
        "Acme Holdings Inc.",
        "Chicago",
        None,
    )


@pytest.mark.parametrize(
    "account_id", ["0015g0000ZZZZZZAAA", "0015g0000ZZZZZZ", "0015g0000ZZZZZZXYZ", "1' OR Name != '"]
)
async def test_get_account_of_an_unknown_or_malformed_id_is_account_not_found(
    crm: SalesforceCrm, account_id: str
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_account(account_id)
    assert caught.value.code == "account_not_found"


async def test_get_account_of_an_opportunity_id_is_account_not_found(crm: SalesforceCrm) -> None:
    opp_id, _ = await seed_deal(crm, "not-an-account")
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_account(opp_id)
    assert caught.value.code == "account_not_found"


async def test_get_account_that_cannot_be_a_customer_is_invalid_account_naming_the_field(crm: SalesforceCrm) -> None:
    _, account_id = await seed_deal(crm, "half-address", account={"BillingPostalCode": None})
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_account(account_id)
    assert caught.value.code == "invalid_account"
    assert "BillingPostalCode" in caught.value.message


async def test_an_account_change_delivers_a_webhook_that_verifies_and_orders_by_modstamp(
    http: httpx.AsyncClient, own_server: Callable[[FastAPI], RunningServer]
) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[tuple[bytes, str | None]] = asyncio.Queue()
    receiver = FastAPI()

    @receiver.post("/crm/salesforce")
    async def hook(request: Request) -> Response:
        loop.call_soon_threadsafe(received.put_nowait, (await request.body(), request.headers.get("X-C2C-Signature")))
        return Response(status_code=202)

    hook_url = own_server(receiver).url + "/crm/salesforce"
    crm = SalesforceCrm(http, own_server(create_app(webhook_url=hook_url, webhook_secret="whsec_test")).url, "c", "s")
    _, account_id = await seed_deal(crm, "moves")
    await crm.update("Account", account_id, {"BillingStreet": "2 Main St", "BillingPostalCode": "62702"})

    body, signature = await asyncio.wait_for(received.get(), timeout=5)
    event = verify_crm_event(body, signature, "whsec_test")
    assert isinstance(event, AccountChangedEvent)
    assert (event.event_type, event.record_id) == ("account.changed", account_id)
    assert event.changed_fields == ("BillingStreet", "BillingPostalCode")
    snapshot = await crm.get_account(event.record_id)
    assert snapshot.modified_at == event.system_modstamp
    assert snapshot.customer.address.line1 == "2 Main St"
    with pytest.raises(InvalidWebhook, match="expected opportunity.closed_won"):
        verify_closed_won(body, signature, "whsec_test")


# -- verify_crm_event -----------------------------------------------------------------------------

ACCOUNT_EVENT = {
    "eventId": "9d0c7a1e-5f7e-4c5e-8f0e-1b2c3d4e5f60",
    "eventType": "account.changed",
    "sobject": "Account",
    "recordId": "0015g0000DTVD3FAQX",
    "changedFields": ["Name", "Tax_Id__c"],
    "systemModstamp": "2024-05-29T16:26:39.123+0000",
    "occurredAt": "2024-05-29T16:26:40.000Z",
}


def test_verify_crm_event_returns_each_event_type_through_one_path() -> None:
    account_body = json.dumps(ACCOUNT_EVENT).encode()
    account = verify_crm_event(account_body, signed(account_body), SECRET, now=NOW)
    assert account == AccountChangedEvent(
        event_id=ACCOUNT_EVENT["eventId"],
        event_type="account.changed",
        record_id="0015g0000DTVD3FAQX",
        changed_fields=("Name", "Tax_Id__c"),
        system_modstamp=datetime(2024, 5, 29, 16, 26, 39, 123_000, tzinfo=UTC),
        occurred_at=datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC),
    )
    won_body = json.dumps(EVENT).encode()
    assert isinstance(verify_crm_event(won_body, signed(won_body), SECRET, now=NOW), ClosedWonEvent)


def _account_event(**changes: Any) -> bytes:
    return json.dumps({k: v for k, v in (ACCOUNT_EVENT | changes).items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_account_event(changedFields=None), "missing fields: changedFields"),
        (_account_event(systemModstamp=None), "missing fields: systemModstamp"),
        (_account_event(changedFields=[]), "invalid event: changedFields"),
        (_account_event(systemModstamp="2024-05-29T16:26:39"), "invalid event: systemModstamp"),
        (_account_event(eventType="account.deleted"), "unexpected eventType 'account.deleted'"),
    ],
)
def test_verify_crm_event_rejects_a_malformed_account_event_naming_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        verify_crm_event(body, signed(body), SECRET, now=NOW)
    assert problem in str(caught.value)


def test_verify_closed_won_refuses_a_genuine_account_event() -> None:
    body = json.dumps(ACCOUNT_EVENT).encode()
    with pytest.raises(InvalidWebhook, match="unexpected eventType 'account.changed', expected opportunity.closed_won"):
        verify_closed_won(body, signed(body), SECRET, now=NOW)
    with pytest.raises(InvalidWebhook, match="signature does not match"):
        verify_crm_event(body, signed(body, secret="other"), SECRET, now=NOW)
