"""The AvaTax emulator as Avalara's own Python SDK (`Avalara` on PyPI, `import avalara`; a `dev` dependency) sees
it, unmodified: `AvataxClient` pointed at the emulator's URL reads every answer's headers (its logging needs
`X-Correlation-Id`), resolves addresses, and creates, adjusts, commits, lists (`$filter`, `$top`, `$skip`,
`@nextLink`) and voids transactions. Each test has an emulator of its own, so listings are exact."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from sandbox.server import build_app
from tests.support.avatax import ACCOUNT_ID, LICENSE_KEY
from tests.support.sdk import vendor_sdk
from tests.support.servers import Serve

avalara = vendor_sdk("avalara")

LOS_ANGELES = {"line1": "1 World Way", "city": "Los Angeles", "region": "CA", "postalCode": "90045", "country": "US"}
AUSTIN = {"line1": "1 Main St", "city": "Austin", "region": "TX", "postalCode": "78701", "country": "US"}


@pytest.fixture
def sdk(own_server: Serve) -> Any:
    url = own_server(build_app("avatax")).url
    return avalara.AvataxClient("c2c-contract", "1.0", "pytest", url).add_credentials(ACCOUNT_ID, LICENSE_KEY)


def transaction(code: str, *amounts: int | str, commit: bool = False) -> dict[str, Any]:
    return {
        "type": "SalesInvoice",
        "code": code,
        "companyCode": "US01",
        "date": "2024-05-01",
        "customerCode": "CUST-SDK",
        "currencyCode": "USD",
        "commit": commit,
        "addresses": {"shipFrom": AUSTIN, "shipTo": LOS_ANGELES},
        "lines": [
            {"number": str(n), "quantity": 1, "amount": amount, "taxCode": "SW054000", "itemCode": "PLAT-SEAT"}
            for n, amount in enumerate(amounts, start=1)
        ],
    }


def body(response: Any) -> Any:
    """The answer's JSON, decimals exact, once it succeeded."""
    assert response.status_code < 400, response.text
    return json.loads(response.content, parse_float=Decimal)


def test_every_answer_carries_the_headers_the_sdk_reads(sdk: Any) -> None:
    ping = sdk.ping()
    sdk.client_header["X-Correlation-Id"] = "c2c:salesforce:D-1"
    echoed = sdk.ping()
    refused = avalara.AvataxClient("c2c", "1.0", "pytest", sdk.base_url).add_credentials(ACCOUNT_ID, "wrong").ping()
    missing = sdk.get_transaction_by_code("US01", "nothing-here")

    assert body(ping)["authenticated"] is True
    assert uuid.UUID(ping.headers["X-Correlation-Id"])
    assert ping.headers["ServerDuration"].startswith("00:00:")
    assert echoed.headers["X-Correlation-Id"] == "c2c:salesforce:D-1"
    assert refused.json()["authenticated"] is False  # ping answers unauthenticated callers too
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "EntityNotFoundError")
    assert "X-Correlation-Id" in missing.headers


def test_a_transaction_is_created_adjusted_committed_and_voided(sdk: Any) -> None:
    created = body(sdk.create_transaction(transaction("sdk-doc-1", 100, "19.99"), {"$include": "Lines"}))
    adjusted = body(
        sdk.adjust_transaction(
            "US01",
            "sdk-doc-1",
            {
                "adjustmentReason": "PriceAdjusted",
                "adjustmentDescription": "seat price corrected",
                "newTransaction": transaction("ignored", 200),
            },
        )
    )
    committed = body(sdk.commit_transaction("US01", "sdk-doc-1", {"commit": True}))
    read = body(sdk.get_transaction_by_code("US01", "sdk-doc-1", {"documentType": "SalesInvoice"}))
    voided = body(sdk.void_transaction("US01", "sdk-doc-1", {"code": "DocVoided"}))
    again = sdk.void_transaction("US01", "sdk-doc-1", {"code": "DocVoided"})
    late = sdk.adjust_transaction(
        "US01", "sdk-doc-1", {"adjustmentReason": "PriceAdjusted", "newTransaction": transaction("x", 1)}
    )

    assert (created["status"], created["version"], created["totalAmount"]) == ("Saved", 1, Decimal("119.99"))
    assert (adjusted["id"], adjusted["code"], adjusted["version"]) == (created["id"], "sdk-doc-1", 2)
    assert (adjusted["adjustmentReason"], adjusted["totalAmount"]) == ("PriceAdjusted", Decimal("200"))
    assert [line["lineNumber"] for line in adjusted["lines"]] == ["1"]
    assert committed["status"] == "Committed"
    assert (read["status"], read["version"], read["totalTax"]) == ("Committed", 2, committed["totalTax"])
    assert voided["status"] == "Cancelled"
    assert (again.status_code, again.json()["error"]["code"]) == (400, "TransactionAlreadyCancelled")
    assert (late.status_code, late.json()["error"]["code"]) == (400, "TransactionAlreadyCancelled")


def test_an_adjustment_is_refused_as_avatax_refuses_it(sdk: Any) -> None:
    body(sdk.create_transaction(transaction("sdk-doc-2", 100)))

    unexplained = sdk.adjust_transaction(
        "US01", "sdk-doc-2", {"adjustmentReason": "Other", "newTransaction": transaction("sdk-doc-2", 50)}
    )
    unknown_reason = sdk.adjust_transaction(
        "US01", "sdk-doc-2", {"adjustmentReason": "Whim", "newTransaction": transaction("sdk-doc-2", 50)}
    )
    missing = sdk.adjust_transaction(
        "US01", "no-such-doc", {"adjustmentReason": "PriceAdjusted", "newTransaction": transaction("x", 50)}
    )

    assert unexplained.status_code == 400
    assert unexplained.json()["error"]["details"][0]["refersTo"] == "adjustmentDescription"
    assert unknown_reason.status_code == 400
    assert unknown_reason.json()["error"]["details"][0]["refersTo"] == "adjustmentReason"
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "EntityNotFoundError")
    assert body(sdk.get_transaction_by_code("US01", "sdk-doc-2"))["version"] == 1


def test_transactions_are_listed_with_filter_top_and_next_link(sdk: Any) -> None:
    for n in range(3):
        body(sdk.create_transaction(transaction(f"sdk-list-{n}", 100 + n, commit=n > 0)))

    first = body(sdk.list_transactions_by_company("US01", {"$filter": "status eq 'Committed'", "$top": 1}))
    rest = sdk.list_transactions_by_company(
        "US01", {"$filter": "status eq 'Committed'", "$top": 1, "$skip": 1, "$include": "Lines"}
    )
    everything = body(sdk.list_transactions_by_company("US01", {"$filter": "date ge '2024-05-01'"}))
    bad = sdk.list_transactions_by_company("US01", {"$filter": "colour eq 'blue'"})

    assert first["@recordsetCount"] == 2
    assert [t["code"] for t in first["value"]] == ["sdk-list-1"]
    assert "lines" not in first["value"][0]
    assert "%24skip=1" in first["@nextLink"] or "$skip=1" in first["@nextLink"]
    assert [(t["code"], len(t["lines"])) for t in body(rest)["value"]] == [("sdk-list-2", 1)]
    assert "@nextLink" not in body(rest)
    assert [t["code"] for t in everything["value"]] == ["sdk-list-0", "sdk-list-1", "sdk-list-2"]
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "InvalidFilter")


def test_addresses_are_resolved_by_query_and_by_body(sdk: Any) -> None:
    by_query = body(sdk.resolve_address(LOS_ANGELES))
    by_body = body(sdk.resolve_address_post({**LOS_ANGELES, "textCase": "Mixed"}))
    nowhere = body(sdk.resolve_address_post({**LOS_ANGELES, "city": "Nowhere"}))
    bad_case = sdk.resolve_address({**LOS_ANGELES, "textCase": "Shouting"})

    [placed] = by_query["validatedAddresses"]
    assert (placed["line1"], placed["city"], placed["region"]) == ("1 WORLD WAY", "LOS ANGELES", "CA")
    assert (placed["addressType"], by_query["resolutionQuality"]) == (
        "StreetOrResidentialAddress",
        "PostalCentroidGood",
    )
    assert by_query["address"] == LOS_ANGELES
    assert by_body["validatedAddresses"][0]["city"] == "Los Angeles"
    assert "messages" not in by_query
    assert nowhere["resolutionQuality"] == "NotCoded"
    assert [(m["severity"], m["refersTo"]) for m in nowhere["messages"]] == [("Error", "Address")]
    assert "geocoded" in nowhere["messages"][0]["summary"]
    assert (bad_case.status_code, bad_case.json()["error"]["code"]) == (400, "InvalidAddressTextCase")
