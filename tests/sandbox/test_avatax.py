"""The AvaTax emulator's wire behaviour over real HTTP: auth, documents, rates, refusals, admin endpoints."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

AUTH = httpx.BasicAuth("2000123456", "sandbox-license")
NEW_YORK = {"line1": "350 5th Ave", "city": "New York", "region": "NY", "postalCode": "10118", "country": "US"}
AMSTERDAM = {"line1": "Dam 1", "city": "Amsterdam", "postalCode": "1012 JS", "country": "NL"}


@pytest.fixture
def url(emulators: Any) -> str:
    return emulators.url("avatax")


def transaction(**overrides: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "code": f"emu-{uuid.uuid4().hex[:12]}",
        "type": "SalesInvoice",
        "companyCode": "US01",
        "date": "2024-05-01",
        "customerCode": "CUST-1",
        "currencyCode": "USD",
        "addresses": {"shipTo": NEW_YORK},
        "lines": [{"number": "1", "quantity": 1, "amount": 100, "taxCode": "SW054000"}],
    }
    model.update(overrides)
    return model


def decimals(response: httpx.Response) -> Any:
    return json.loads(response.content, parse_float=Decimal)


async def create_or_adjust(http: httpx.AsyncClient, url: str, model: dict[str, Any]) -> httpx.Response:
    return await http.post(
        f"{url}/api/v2/transactions/createoradjust", json={"createTransactionModel": model}, auth=AUTH
    )


async def documents(http: httpx.AsyncClient, url: str, code: str) -> list[dict[str, Any]]:
    state = decimals(await http.get(f"{url}/_sandbox/state"))
    return [doc for doc in state["documents"] if doc["code"] == code]


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


async def test_missing_credentials_are_refused_as_incomplete(http: httpx.AsyncClient, url: str) -> None:
    response = await http.post(f"{url}/api/v2/transactions/create", json=transaction())

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationIncomplete"
    assert response.json()["error"]["target"] == "HttpRequestHeaders"


@pytest.mark.parametrize(("account", "key"), [("2000123456", "wrong"), ("not-a-number", "key"), ("2000123456", "")])
async def test_bad_credentials_are_refused(http: httpx.AsyncClient, url: str, account: str, key: str) -> None:
    response = await http.post(
        f"{url}/api/v2/transactions/create", json=transaction(), auth=httpx.BasicAuth(account, key)
    )

    assert response.status_code == 401
    assert error_code(response) == "AuthenticationException"


async def test_ping_reports_whether_the_caller_is_authenticated(http: httpx.AsyncClient, url: str) -> None:
    anonymous = (await http.get(f"{url}/api/v2/utilities/ping")).json()
    known = (await http.get(f"{url}/api/v2/utilities/ping", auth=AUTH)).json()

    assert (anonymous["authenticated"], known["authenticated"]) == (False, True)
    assert known["authenticatedAccountId"] == 2000123456


async def test_create_answers_201_with_exact_decimal_numbers(http: httpx.AsyncClient, url: str) -> None:
    model = transaction(lines=[{"number": "1", "amount": Decimal("123.45")}])
    # Send the amount as a JSON number without passing through float.
    response = await http.post(
        f"{url}/api/v2/transactions/create",
        content=json.dumps(model, default=str).replace('"123.45"', "123.45"),
        headers={"Content-Type": "application/json"},
        auth=AUTH,
    )

    assert response.status_code == 201
    # New York 8.875%: 123.45 x 0.08875 = 10.9561875 -> 10.96, written as a plain JSON number
    assert '"totalTax":10.96,' in response.text
    assert '"rate":0.04875' in response.text
    body = decimals(response)
    assert (body["status"], body["version"], body["type"]) == ("Saved", 1, "SalesInvoice")
    assert isinstance(body["id"], int)
    assert body["id"] > 0


async def test_us_details_split_by_jurisdiction_and_add_up_to_the_line(http: httpx.AsyncClient, url: str) -> None:
    body = decimals(await create_or_adjust(http, url, transaction(lines=[{"number": "1", "amount": 1000}])))

    [line] = body["lines"]
    assert [(d["jurisdictionType"], d["rate"]) for d in line["details"]] == [
        ("State", Decimal("0.04")),
        ("City", Decimal("0.04875")),
    ]
    assert sum(d["tax"] for d in line["details"]) == line["tax"] == Decimal("88.75")
    assert sum(row["tax"] for row in body["summary"]) == body["totalTax"]


async def test_create_with_an_existing_code_is_refused(http: httpx.AsyncClient, url: str) -> None:
    model = transaction()
    first = await http.post(f"{url}/api/v2/transactions/create", json=model, auth=AUTH)

    again = await http.post(f"{url}/api/v2/transactions/create", json=model, auth=AUTH)

    assert first.status_code == 201
    assert again.status_code == 400
    assert error_code(again) == "TransactionAlreadyExists"
    assert len(await documents(http, url, model["code"])) == 1


async def test_createoradjust_adjusts_an_existing_document_in_place(http: httpx.AsyncClient, url: str) -> None:
    model = transaction()
    first = decimals(await create_or_adjust(http, url, model))

    model["lines"] = [{"number": "1", "amount": 200}]
    second = decimals(await create_or_adjust(http, url, model))

    assert second["id"] == first["id"]
    assert (first["version"], second["version"]) == (1, 2)
    assert second["totalTax"] == Decimal("17.75")
    [doc] = await documents(http, url, model["code"])
    assert (doc["version"], doc["totalTax"]) == (2, Decimal("17.75"))


async def test_concurrent_createoradjust_of_one_code_makes_one_document(http: httpx.AsyncClient, url: str) -> None:
    model = transaction()

    responses = await asyncio.gather(*(create_or_adjust(http, url, model) for _ in range(8)))

    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 9))
    assert len(await documents(http, url, model["code"])) == 1


async def test_sales_order_is_a_temporary_estimate_that_is_not_saved(http: httpx.AsyncClient, url: str) -> None:
    model = transaction(type="SalesOrder")

    body = (await create_or_adjust(http, url, model)).json()

    assert (body["id"], body["status"]) == (0, "Temporary")
    assert await documents(http, url, model["code"]) == []


async def test_ship_from_defaults_to_the_company_location_and_single_location_works(
    http: httpx.AsyncClient, url: str
) -> None:
    defaulted = (
        await create_or_adjust(
            http, url, transaction(companyCode="DE01", currencyCode="EUR", addresses={"shipTo": AMSTERDAM})
        )
    ).json()
    single = (await create_or_adjust(http, url, transaction(addresses={"singleLocation": NEW_YORK}))).json()

    assert defaulted["addresses"][0]["city"] == "Berlin"
    assert defaulted["totalTax"] == 21
    assert [a["city"] for a in single["addresses"]] == ["New York", "New York"]


async def test_commit_then_void_walks_the_document_status(http: httpx.AsyncClient, url: str) -> None:
    model = transaction()
    await create_or_adjust(http, url, model)
    base = f"{url}/api/v2/companies/US01/transactions/{model['code']}"

    committed = await http.post(f"{base}/commit", json={"commit": True}, auth=AUTH)
    voided = await http.post(f"{base}/void", json={"code": "DocVoided"}, auth=AUTH)
    fetched = await http.get(base, auth=AUTH)

    assert (committed.status_code, committed.json()["status"]) == (200, "Committed")
    assert (voided.status_code, voided.json()["status"]) == (200, "Cancelled")
    assert fetched.json()["status"] == "Cancelled"


async def test_a_cancelled_document_cannot_be_adjusted_or_committed(http: httpx.AsyncClient, url: str) -> None:
    model = transaction()
    await create_or_adjust(http, url, model)
    base = f"{url}/api/v2/companies/US01/transactions/{model['code']}"
    await http.post(f"{base}/void", json={"code": "DocVoided"}, auth=AUTH)

    adjusted = await create_or_adjust(http, url, model)
    committed = await http.post(f"{base}/commit", json={"commit": True}, auth=AUTH)

    assert (adjusted.status_code, error_code(adjusted)) == (400, "TransactionAlreadyCancelled")
    assert (committed.status_code, error_code(committed)) == (400, "TransactionAlreadyCancelled")


async def test_unknown_document_is_404_entity_not_found(http: httpx.AsyncClient, url: str) -> None:
    response = await http.get(f"{url}/api/v2/companies/US01/transactions/nope-{uuid.uuid4().hex}", auth=AUTH)

    assert response.status_code == 404
    assert error_code(response) == "EntityNotFoundError"


async def test_escaped_path_characters_address_the_document(http: httpx.AsyncClient, url: str) -> None:
    model = transaction(code=f"inv/{uuid.uuid4().hex[:8]}+1")
    await create_or_adjust(http, url, model)
    escaped = model["code"].replace("/", "_-ava2f-_").replace("+", "_-ava2b-_")

    response = await http.get(f"{url}/api/v2/companies/US01/transactions/{escaped}", auth=AUTH)

    assert response.status_code == 200
    assert response.json()["code"] == model["code"]


@pytest.mark.parametrize(
    ("ship_to", "detail_codes"),
    [
        ({**NEW_YORK, "region": "ZZ"}, ["InvalidCountryRegion"]),
        ({**NEW_YORK, "postalCode": "1011"}, ["InvalidPostalCode"]),
        ({**NEW_YORK, "postalCode": "00000"}, ["AddressNotGeocoded"]),
        ({**NEW_YORK, "city": "Nowhere"}, ["AddressNotGeocoded"]),
        ({**AMSTERDAM, "country": "BR"}, ["InvalidCountry"]),
        ({"country": "US", "city": "Boston"}, ["InvalidAddress"]),
    ],
)
async def test_unusable_addresses_are_refused_as_invalid_address(
    http: httpx.AsyncClient, url: str, ship_to: dict[str, str], detail_codes: list[str]
) -> None:
    model = transaction(addresses={"shipTo": ship_to})

    response = await create_or_adjust(http, url, model)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("InvalidAddress", "IncorrectData")
    assert [d["code"] for d in error["details"]] == detail_codes
    assert {d["refersTo"] for d in error["details"]} == {"Addresses[1]"}
    assert await documents(http, url, model["code"]) == []


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"companyCode": "XX01"}, "CompanyInvalidException"),
        ({"currencyCode": "XYZ"}, "InvalidParameterValue"),
        ({"type": "PurchaseInvoice"}, "InvalidDocumentType"),
        ({"lines": []}, "MissingLine"),
        ({"addresses": {}}, "MissingAddress"),
        ({"customerCode": None}, "ModelStateInvalid"),
    ],
)
async def test_bad_requests_are_refused_with_avatax_error_codes(
    http: httpx.AsyncClient, url: str, overrides: dict[str, Any], code: str
) -> None:
    response = await create_or_adjust(http, url, transaction(**overrides))

    assert response.status_code == 400
    assert error_code(response) == code


async def test_missing_fields_and_broken_json_are_refused(http: httpx.AsyncClient, url: str) -> None:
    missing = await http.post(f"{url}/api/v2/transactions/create", json={"lines": []}, auth=AUTH)
    broken = await http.post(
        f"{url}/api/v2/transactions/create",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
        auth=AUTH,
    )

    assert (missing.status_code, error_code(missing)) == (400, "ValueRequiredError")
    assert {d["refersTo"] for d in missing.json()["error"]["details"]} == {"date", "customerCode"}
    assert (broken.status_code, error_code(broken)) == (400, "JsonFormatError")


async def test_exempt_entity_use_code_moves_the_amount_to_exempt(http: httpx.AsyncClient, url: str) -> None:
    body = decimals(await create_or_adjust(http, url, transaction(entityUseCode="E")))

    assert (body["totalTax"], body["totalTaxable"], body["totalExempt"]) == (0, 0, 100)


async def test_currency_minor_units_decide_the_rounding(http: httpx.AsyncClient, url: str) -> None:
    bahrain_dinar = decimals(
        await create_or_adjust(http, url, transaction(currencyCode="BHD", lines=[{"amount": "10.005"}]))
    )
    won = decimals(await create_or_adjust(http, url, transaction(currencyCode="KRW", lines=[{"amount": 1234}])))

    # 10.005 x 8.875% = 0.887943... -> 0.888 (3 decimals); 1234 x 8.875% = 109.5175 -> 110 (0 decimals)
    assert bahrain_dinar["totalTax"] == Decimal("0.888")
    assert won["totalTax"] == Decimal("110")


async def test_reset_forgets_every_document(http: httpx.AsyncClient, url: str) -> None:
    await create_or_adjust(http, url, transaction())

    await http.post(f"{url}/_sandbox/reset")

    state = (await http.get(f"{url}/_sandbox/state")).json()
    assert state["documents"] == []
    assert [c["companyCode"] for c in state["companies"]] == ["US01", "DE01", "UK01"]


@pytest.mark.parametrize("commit", [False, True], ids=["saved", "committed"])
async def test_void_cancels_a_saved_or_committed_document_and_refuses_a_second_void(
    http: httpx.AsyncClient, url: str, commit: bool
) -> None:
    model = transaction(commit=commit)
    created = await create_or_adjust(http, url, model)
    assert created.json()["status"] == ("Committed" if commit else "Saved")
    base = f"{url}/api/v2/companies/US01/transactions/{model['code']}"

    voided = await http.post(f"{base}/void", json={"code": "DocVoided"}, auth=AUTH)
    again = await http.post(f"{base}/void", json={"code": "DocVoided"}, auth=AUTH)

    assert (voided.status_code, voided.json()["status"]) == (200, "Cancelled")
    assert (again.status_code, error_code(again)) == (400, "TransactionAlreadyCancelled")
    [detail] = again.json()["error"]["details"]
    assert (detail["number"], detail["message"]) == (198, "The transaction has already been cancelled.")
    assert model["code"] in detail["description"]
    [doc] = await documents(http, url, model["code"])
    assert (doc["status"], doc["version"]) == ("Cancelled", 1)


async def test_void_of_an_unknown_document_is_404_entity_not_found(http: httpx.AsyncClient, url: str) -> None:
    code = f"nope-{uuid.uuid4().hex}"
    response = await http.post(
        f"{url}/api/v2/companies/US01/transactions/{code}/void", json={"code": "DocVoided"}, auth=AUTH
    )

    assert (response.status_code, error_code(response)) == (404, "EntityNotFoundError")
    assert await documents(http, url, code) == []
