"""The NetSuite emulator's wire behaviour: auth, record API semantics, business rules, admin endpoints."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import jwt
import pytest

from connectors.netsuite import M2MCredentials
from connectors.netsuite.auth import client_assertion
from estate.netsuite_key import key_pair
from sandbox.netsuite import decimal_json
from tests.support.netsuite import CERTIFICATE_ID, CLIENT_ID, rsa_key_pair, token_form

RECORDS = "/services/rest/record/v1"
TOKEN = "/services/rest/auth/oauth2/v1/token"


class NetSuite:
    """A bare REST client for the emulator: just a token and JSON with exact decimals."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, token: str) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = decimal_json.dumps(body) if body is not None else None
        return await self.http.request(
            method, f"{self.base_url}{RECORDS}/{path}", content=content, headers=self.headers
        )

    async def write(self, method: str, path: str, body: Any) -> str:
        """Internal id of a successful write, from its Location header."""
        response = await self.call(method, path, body)
        assert response.status_code == 204, response.text
        return response.headers["Location"].rpartition("/")[2]

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.call("GET", path)
        assert response.status_code == 200, response.text
        record: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
        return record

    async def refused(self, method: str, path: str, body: Any, status: int = 400) -> dict[str, Any]:
        """The first o:errorDetails entry of a refusal with `status`."""
        response = await self.call(method, path, body)
        assert response.status_code == status, response.text
        detail: dict[str, Any] = response.json()["o:errorDetails"][0]
        return detail

    async def state(self) -> dict[str, Any]:
        response = await self.http.get(f"{self.base_url}/_sandbox/state")
        state: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
        return state


@pytest.fixture
async def base_url(emulators: Any, http: httpx.AsyncClient) -> str:
    url: str = emulators.url("netsuite")
    await http.delete(f"{url}/_sandbox/faults")
    await http.post(f"{url}/_sandbox/reset")
    return url


@pytest.fixture
async def ns(http: httpx.AsyncClient, base_url: str) -> NetSuite:
    response = await http.post(f"{base_url}{TOKEN}", data=token_form(base_url))
    assert response.status_code == 200
    # As NetSuite documents the answer: a bearer token for 60 minutes, expires_in a string.
    assert (response.json()["token_type"], response.json()["expires_in"]) == ("Bearer", "3600")
    return NetSuite(http, base_url, response.json()["access_token"])


def eid() -> str:
    return f"ext-{uuid.uuid4().hex[:10]}"


async def customer(ns: NetSuite, subsidiary: str = "1", currency: str = "1") -> str:
    body = {"companyName": "Acme", "subsidiary": {"id": subsidiary}, "currency": {"id": currency}}
    return await ns.write("PUT", f"customer/eid:{eid()}", body)


def invoice_body(entity: str, currency: str = "1", subsidiary: str = "1", **fields: Any) -> dict[str, Any]:
    line = {"item": {"id": "10"}, "quantity": 2, "rate": Decimal("49.05"), "amount": Decimal("98.10")}
    body = {
        "entity": {"id": entity},
        "subsidiary": {"id": subsidiary},
        "currency": {"id": currency},
        "tranDate": "2025-03-01",
        "item": {"items": [line]},
        "taxTotal": Decimal("8.58"),
    }
    return body | fields


@pytest.mark.parametrize(
    ("form", "error"),
    [
        # A client secret is not how NetSuite's client credentials (M2M) grant authenticates.
        ({"grant_type": "client_credentials", "client_id": "c2c", "client_secret": "s3cret"}, "invalid_request"),
        ({"grant_type": "password", "client_id": "c2c", "client_secret": "x"}, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "client_assertion_type": "urn:x", "client_assertion": "a.b.c"},
            "invalid_request",
        ),
    ],
)
async def test_token_endpoint_refuses_grants_without_a_client_assertion(
    http: httpx.AsyncClient, base_url: str, form: dict[str, str], error: str
) -> None:
    response = await http.post(f"{base_url}{TOKEN}", data=form)

    assert (response.status_code, response.json()["error"]) == (400, error)


NOW = int(time.time())


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"kid": "no-such-certificate"}, "kid"),
        ({"typ": "JOSE"}, "typ"),
        ({"iss": "another-integration"}, "issuer"),
        ({"aud": "https://1234567.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"}, "Audience"),
        ({"scope": "restlets"}, "rest_webservices"),
        ({"iat": NOW - 7200, "exp": NOW - 3600}, "expired"),
        ({"iat": NOW, "exp": NOW + 3601}, "60 minutes"),
        ({"iat": NOW + 3600, "exp": NOW + 3700}, "not yet valid"),
        ({"iat": str(NOW)}, "iat"),
    ],
)
async def test_token_endpoint_refuses_an_assertion_netsuite_would_refuse(
    http: httpx.AsyncClient, base_url: str, claims: dict[str, Any], why: str
) -> None:
    response = await http.post(f"{base_url}{TOKEN}", data=token_form(base_url, **claims))

    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})
    assert why in (await http.get(f"{base_url}/_sandbox/state")).json()["refusedAssertions"][-1]


async def test_token_endpoint_refuses_an_assertion_signed_with_another_key(
    http: httpx.AsyncClient, base_url: str
) -> None:
    other_key, _ = key_pair()  # the certificate's id in kid, but not its key
    forged = M2MCredentials(CLIENT_ID, CERTIFICATE_ID, other_key)
    assertion = client_assertion(forged, f"{base_url}{TOKEN}", time.time())
    form = token_form(base_url) | {"client_assertion": assertion}

    response = await http.post(f"{base_url}{TOKEN}", data=form)

    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})
    assert "Signature" in (await http.get(f"{base_url}/_sandbox/state")).json()["refusedAssertions"][-1]


async def test_a_certificate_is_mapped_through_the_admin_endpoint_and_signs_with_ps256(
    http: httpx.AsyncClient, base_url: str
) -> None:
    private, certificate = rsa_key_pair()
    mapped = await http.post(
        f"{base_url}/_sandbox/certificates", json={"client_id": "rsa-app", "certificate": certificate}
    )
    credentials = M2MCredentials("rsa-app", mapped.json()["certificateId"], private)
    assertion = client_assertion(credentials, f"{base_url}{TOKEN}", time.time())
    form = token_form(base_url) | {"client_assertion": assertion}

    response = await http.post(f"{base_url}{TOKEN}", data=form)

    assert response.status_code == 200, response.text
    assert jwt.get_unverified_header(assertion)["alg"] == "PS256"
    refused = await http.post(f"{base_url}/_sandbox/certificates", json={"client_id": "x", "certificate": "nonsense"})
    assert refused.status_code == 400


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic YTpi"])
async def test_record_api_without_a_valid_bearer_token_is_401_invalid_login(
    http: httpx.AsyncClient, base_url: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await http.get(f"{base_url}{RECORDS}/subsidiary/1", headers=headers)

    assert response.status_code == 401
    body = response.json()
    assert (body["title"], body["status"]) == ("Unauthorized", 401)
    assert body["type"].endswith("#section-15.5.2")
    assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


async def test_revoked_token_is_refused(ns: NetSuite, http: httpx.AsyncClient, base_url: str) -> None:
    await http.post(f"{base_url}/_sandbox/tokens/revoke")

    detail = await ns.refused("GET", "subsidiary/1", None, status=401)
    assert detail["o:errorCode"] == "INVALID_LOGIN"


async def test_create_answers_204_with_location_and_the_record_reads_back_by_id_and_external_id(
    ns: NetSuite, base_url: str
) -> None:
    external_id = eid()
    body = {"companyName": "Globex GmbH", "subsidiary": {"id": 2}, "externalId": external_id}
    response = await ns.call("POST", "customer", body)

    assert (response.status_code, response.content) == (204, b"")
    location = response.headers["Location"]
    internal_id = location.rpartition("/")[2]
    assert location == f"{base_url}{RECORDS}/customer/{internal_id}"
    by_id = await ns.get(f"customer/{internal_id}")
    assert by_id == await ns.get(f"customer/eid:{external_id}")
    assert (by_id["id"], by_id["externalId"], by_id["companyName"]) == (internal_id, external_id, "Globex GmbH")
    assert by_id["subsidiary"] == {"id": "2", "refName": "c2c Software GmbH"}
    assert by_id["currency"] == {"id": "4", "refName": "EUR"}
    assert by_id["links"] == [{"rel": "self", "href": location}]


async def test_create_with_a_taken_external_id_is_refused(ns: NetSuite) -> None:
    external_id = eid()
    body = {"companyName": "Acme", "subsidiary": {"id": "1"}, "externalId": external_id}
    await ns.write("POST", "customer", body)

    detail = await ns.refused("POST", "customer", body)
    assert detail["o:errorCode"] == "USER_ERROR"


async def test_patch_updates_fields_and_keeps_the_rest(ns: NetSuite) -> None:
    internal_id = await customer(ns)

    assert await ns.write("PATCH", f"customer/{internal_id}", {"email": "ap@acme.example"}) == internal_id

    record = await ns.get(f"customer/{internal_id}")
    assert (record["companyName"], record["email"]) == ("Acme", "ap@acme.example")


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("PATCH", {"email": "x@y.z"})])
async def test_unknown_record_is_404_nonexistent_id(ns: NetSuite, method: str, body: Any) -> None:
    detail = await ns.refused(method, "customer/424242", body, status=404)

    assert detail["o:errorCode"] == "NONEXISTENT_ID"


async def test_concurrent_upserts_of_one_external_id_create_one_record(ns: NetSuite) -> None:
    external_id = eid()
    body = {"companyName": "Acme", "subsidiary": {"id": "1"}}

    ids = await asyncio.gather(*(ns.write("PUT", f"customer/eid:{external_id}", body) for _ in range(10)))

    assert len(set(ids)) == 1
    assert [c["id"] for c in (await ns.state())["customer"]] == [ids[0]]


async def test_invoice_totals_are_exact_json_numbers(ns: NetSuite) -> None:
    invoice_id = await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(await customer(ns)))

    response = await ns.call("GET", f"invoice/{invoice_id}")

    assert '"amount":98.10' in response.text
    assert '"total":106.68' in response.text
    record = json.loads(response.content, parse_float=Decimal)
    assert (record["subtotal"], record["amountRemaining"], record["status"]) == (
        Decimal("98.10"),
        Decimal("106.68"),
        "Open",
    )
    assert record["tranId"] == f"INV{invoice_id}"


@pytest.mark.parametrize(
    ("change", "code", "mentions"),
    [
        ({"currency": {"id": "4"}}, "INVALID_KEY_OR_REF", "currency reference key 4 for subsidiary 1"),
        ({"subsidiary": {"id": "2"}, "currency": {"id": "4"}}, "INVALID_KEY_OR_REF", "entity reference key"),
        ({"entity": {"id": "999999"}}, "INVALID_KEY_OR_REF", "entity reference key 999999"),
        ({"item": {"items": [{"item": {"id": "77"}, "quantity": 1, "rate": 5}]}}, "INVALID_KEY_OR_REF", "item"),
        (
            {"item": {"items": [{"item": {"id": "10"}, "quantity": 2, "rate": 49, "amount": 99}]}},
            "INVALID_VALUE",
            "quantity 2 x rate 49",
        ),
        ({"item": {"items": []}}, "USER_ERROR", "at least one line item"),
        ({"tranDate": "2019-12-31"}, "USER_ERROR", "closed"),
    ],
    ids=[
        "currency-not-of-subsidiary",
        "customer-of-other-subsidiary",
        "no-such-customer",
        "no-such-item",
        "amount-not-quantity-x-rate",
        "no-lines",
        "closed-period",
    ],
)
async def test_invoice_validation(ns: NetSuite, change: dict[str, Any], code: str, mentions: str) -> None:
    body = invoice_body(await customer(ns)) | change

    detail = await ns.refused("PUT", f"invoice/eid:{eid()}", body)

    assert detail["o:errorCode"] == code
    assert mentions in detail["detail"]
    assert (await ns.state())["invoice"] == []


async def test_partial_payments_reduce_the_amount_remaining_until_paid_in_full(ns: NetSuite) -> None:
    customer_id = await customer(ns)
    invoice_id = await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(customer_id))

    for amount in (Decimal("6.68"), Decimal("100")):
        apply = {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]}
        body = {"customer": {"id": customer_id}, "payment": amount, "apply": apply, "tranDate": "2025-03-05"}
        await ns.write("PUT", f"customerPayment/eid:{eid()}", body)
        invoice = await ns.get(f"invoice/{invoice_id}")
        assert invoice["status"] == ("Open" if amount < 100 else "Paid In Full")

    assert invoice["amountRemaining"] == 0


async def test_replaying_a_payment_upsert_does_not_apply_it_twice(ns: NetSuite) -> None:
    customer_id = await customer(ns)
    invoice_id = await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(customer_id))
    apply = {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": Decimal("60")}]}
    body = {"customer": {"id": customer_id}, "payment": Decimal("60"), "apply": apply}
    payment_eid = eid()

    for _ in range(3):
        await ns.write("PUT", f"customerPayment/eid:{payment_eid}", body)

    assert (await ns.get(f"invoice/{invoice_id}"))["amountRemaining"] == Decimal("46.68")


async def test_payment_rules(ns: NetSuite) -> None:
    us_customer, other_customer = await customer(ns), await customer(ns)
    usd_invoice = await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(us_customer))
    jpy_invoice = await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(us_customer, currency="6"))

    def payment(customer_id: str, invoice_id: str, amount: Decimal, paid: Decimal | None = None) -> dict[str, Any]:
        apply = {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]}
        return {"customer": {"id": customer_id}, "payment": paid or amount, "apply": apply}

    refusals = [
        payment(us_customer, usd_invoice, Decimal("106.69")),  # more than the amount due
        payment(other_customer, usd_invoice, Decimal("10")),  # another customer's invoice
        payment(us_customer, jpy_invoice, Decimal("10")),  # the invoice is in JPY, the payment in USD
        payment(us_customer, usd_invoice, Decimal("10"), paid=Decimal("5")),  # applies more than was paid
    ]
    details = [await ns.refused("PUT", f"customerPayment/eid:{eid()}", body) for body in refusals]

    assert [d["o:errorCode"] for d in details] == ["USER_ERROR"] * 4
    assert "exceeds the amount due (106.68)" in details[0]["detail"]
    assert "another customer" in details[1]["detail"]
    assert "JPY" in details[2]["detail"]
    assert "exceeds the payment amount" in details[3]["detail"]
    assert (await ns.state())["customerPayment"] == []


async def test_journal_entry_must_balance(ns: NetSuite) -> None:
    lines = [{"account": {"id": "58"}, "debit": Decimal("3.20")}, {"account": {"id": "2"}, "credit": Decimal("3")}]
    body = {"subsidiary": {"id": "1"}, "tranDate": "2025-03-02", "line": {"items": lines}}

    detail = await ns.refused("PUT", f"journalEntry/eid:{eid()}", body)
    assert detail["o:errorCode"] == "USER_ERROR"
    assert "debits 3.20, credits 3" in detail["detail"]

    lines[1]["credit"] = Decimal("3.20")
    entry_id = await ns.write("PUT", f"journalEntry/eid:{eid()}", body)
    assert (await ns.get(f"journalEntry/{entry_id}"))["total"] == Decimal("3.20")


async def test_credit_memo_on_a_paid_invoice_stays_unapplied(ns: NetSuite) -> None:
    customer_id = await customer(ns)
    invoice = invoice_body(customer_id)
    invoice_id = await ns.write("PUT", f"invoice/eid:{eid()}", invoice)
    apply = {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": Decimal("106.68")}]}
    await ns.write(
        "PUT",
        f"customerPayment/eid:{eid()}",
        {"customer": {"id": customer_id}, "payment": Decimal("106.68"), "apply": apply},
    )

    memo_id = await ns.write("PUT", f"creditMemo/eid:{eid()}", invoice | {"createdFrom": {"id": invoice_id}})

    memo = await ns.get(f"creditMemo/{memo_id}")
    assert (memo["applied"], memo["unapplied"], memo["status"]) == (0, Decimal("106.68"), "Open")
    assert (await ns.get(f"invoice/{invoice_id}"))["amountRemaining"] == 0


async def test_customer_with_transactions_cannot_change_subsidiary(ns: NetSuite) -> None:
    external_id = eid()
    customer_id = await ns.write(
        "PUT", f"customer/eid:{external_id}", {"companyName": "Acme", "subsidiary": {"id": "1"}}
    )
    await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(customer_id))

    detail = await ns.refused(
        "PUT", f"customer/eid:{external_id}", {"subsidiary": {"id": "2"}, "currency": {"id": "4"}}
    )

    assert detail["o:errorCode"] == "USER_ERROR"
    assert (await ns.get(f"customer/{customer_id}"))["subsidiary"]["id"] == "1"


async def test_closing_periods_refuses_earlier_dates_until_reset(
    ns: NetSuite, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer(ns)
    closed = await http.post(f"{base_url}/_sandbox/periods/close", json={"before": "2025-04-01"})
    assert closed.json() == {"closedBefore": "2025-04-01"}

    detail = await ns.refused("PUT", f"invoice/eid:{eid()}", invoice_body(customer_id))
    assert detail["o:errorCode"] == "USER_ERROR"
    await ns.write("PUT", f"invoice/eid:{eid()}", invoice_body(customer_id, tranDate="2025-04-01"))

    await http.post(f"{base_url}/_sandbox/reset")
    state = await ns.state()
    assert state.pop("certificates")  # the account's setup stays
    assert state == {
        "refusedAssertions": [],
        "customer": [],
        "invoice": [],
        "customerPayment": [],
        "journalEntry": [],
        "creditMemo": [],
        "customerRefund": [],
        "closedBefore": "2020-01-01",
        "tokensIssued": 0,
    }


async def test_reference_records_are_readable_but_not_writable(ns: NetSuite) -> None:
    assert (await ns.get("subsidiary/1"))["name"] == "c2c Software Inc."
    assert (await ns.get("serviceItem/10"))["itemId"] == "PLAT-SEAT"
    assert (await ns.get("account/58"))["acctNumber"] == "6150"

    detail = await ns.refused("PUT", "subsidiary/eid:x", {"name": "Other"}, status=405)
    assert detail["o:errorCode"] == "INVALID_CONTENT"


async def test_malformed_json_is_invalid_content(ns: NetSuite) -> None:
    response = await ns.http.put(f"{ns.base_url}{RECORDS}/customer/eid:{eid()}", content=b"{nope", headers=ns.headers)

    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_CONTENT"


@pytest.mark.parametrize(
    ("internal_id", "number", "name", "kind"),
    [("59", "6200", "Bad Debt Expense", "Expense"), ("8", "1110", "Allowance for Doubtful Accounts", "OthCurrAsset")],
)
async def test_bad_debt_accounts_are_seeded_beside_the_existing_chart(
    ns: NetSuite, internal_id: str, number: str, name: str, kind: str
) -> None:
    account = await ns.get(f"account/{internal_id}")
    assert (account["acctNumber"], account["acctName"], account["acctType"]) == (number, name, kind)
    assert (await ns.get("account/7"))["acctNumber"] == "1190"  # existing numbers stay as they were


async def test_a_bad_debt_journal_books_expense_against_the_allowance(ns: NetSuite) -> None:
    lines = [
        {"account": {"id": "59"}, "debit": Decimal("106.68")},
        {"account": {"id": "8"}, "credit": Decimal("106.68")},
    ]
    body = {"subsidiary": {"id": "1"}, "tranDate": "2025-03-31", "line": {"items": lines}}

    entry = await ns.get(f"journalEntry/{await ns.write('PUT', f'journalEntry/eid:{eid()}', body)}")

    assert [line["account"]["refName"] for line in entry["line"]["items"]] == [
        "Bad Debt Expense",
        "Allowance for Doubtful Accounts",
    ]


def _address(city: str, default: bool = True) -> dict[str, Any]:
    return {
        "defaultBilling": default,
        "addressBookAddress": {"addr1": "1 Main St", "city": city, "zip": "78701", "country": {"id": "US"}},
    }


def _customer_body(city: str, tax_number: str | None) -> dict[str, Any]:
    registrations = [{"nexusCountry": {"id": "US"}, "taxRegistrationNumber": tax_number}] if tax_number else []
    return {
        "companyName": "Acme",
        "subsidiary": {"id": "1"},
        "addressBook": {"items": [_address(city)]},
        "taxRegistration": {"items": registrations},
    }


async def test_updating_a_customer_adds_sublist_lines_unless_replace_names_the_sublist(ns: NetSuite) -> None:
    external_id = eid()
    customer_id = await ns.write("PUT", f"customer/eid:{external_id}", _customer_body("Austin", "US-1"))

    await ns.write("PUT", f"customer/eid:{external_id}", _customer_body("Dallas", "US-2"))
    added = await ns.get(f"customer/{customer_id}")
    assert [a["addressBookAddress"]["city"] for a in added["addressBook"]["items"]] == ["Austin", "Dallas"]
    assert added["defaultAddress"] == "1 Main St\nDallas 78701\nUS"
    assert [r["taxRegistrationNumber"] for r in added["taxRegistration"]["items"]] == ["US-1", "US-2"]

    await ns.write(
        "PUT", f"customer/eid:{external_id}?replace=addressBook,taxRegistration", _customer_body("Waco", None)
    )
    replaced = await ns.get(f"customer/{customer_id}")
    assert [a["addressBookAddress"]["city"] for a in replaced["addressBook"]["items"]] == ["Waco"]
    assert replaced["taxRegistration"]["items"] == []

    await ns.write("PATCH", f"customer/{customer_id}?replace=taxRegistration", {"taxRegistration": {"items": []}})
    assert len((await ns.get(f"customer/{customer_id}"))["addressBook"]["items"]) == 1


async def test_a_tax_registration_needs_a_number(ns: NetSuite) -> None:
    body = _customer_body("Austin", None) | {"taxRegistration": {"items": [{"nexusCountry": {"id": "US"}}]}}

    detail = await ns.refused("PUT", f"customer/eid:{eid()}", body)

    assert detail["o:errorCode"] == "USER_ERROR"
    assert "Tax Reg. Number" in detail["detail"]


async def test_a_transaction_in_a_period_closed_since_cannot_be_changed(
    ns: NetSuite, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer(ns)
    external_id = eid()
    invoice_id = await ns.write("PUT", f"invoice/eid:{external_id}", invoice_body(customer_id, tranDate="2025-03-14"))
    await http.post(f"{base_url}/_sandbox/periods/close", json={"before": "2025-04-01"})

    moved = await ns.refused("PUT", f"invoice/eid:{external_id}", {"tranDate": "2025-04-01"})
    patched = await ns.refused("PATCH", f"invoice/{invoice_id}", {"memo": "late"})

    for detail in (moved, patched):
        assert (detail["o:errorCode"], detail["o:errorPath"]) == ("USER_ERROR", "tranDate")
        assert "2025-03-14 is closed" in detail["detail"]
    assert (await ns.get(f"invoice/{invoice_id}"))["tranDate"] == "2025-03-14"
    await ns.write("PATCH", f"customer/{customer_id}", {"email": "ap@acme.example"})  # not a transaction
