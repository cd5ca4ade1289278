"""A restarted emulator never hands out an id an earlier process did: the emulators keep their state in memory, but
c2c's store (the customer crosswalk) and the workflow histories keep the ids they were given.

Each test serves one emulator app, makes records, stops it, serves a new app (a restart: a new process starts
empty, like a new app) and makes records of the same type again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx

from sandbox.server import build_app
from tests.support.netsuite import access_token
from tests.support.salesforce import V, login
from tests.support.servers import Serve

MakeIds = Callable[[httpx.AsyncClient, str], Awaitable[list[str]]]


async def ids_across_a_restart(
    own_server: Serve, http: httpx.AsyncClient, name: str, make: MakeIds, restart_seconds: float = 0.0
) -> None:
    before = own_server(build_app(name))
    first = await make(http, before.url)
    # Within a process a reset empties the state but never rewinds the ids.
    assert (await http.post(f"{before.url}/_sandbox/reset")).status_code == 200
    first += await make(http, before.url)
    before.stop()
    await asyncio.sleep(restart_seconds)

    after = own_server(build_app(name))
    second = await make(http, after.url)

    assert len(set(first)) == len(first)
    assert not set(first) & set(second), f"{name} handed out {sorted(set(first) & set(second))} twice"


async def salesforce_accounts(http: httpx.AsyncClient, url: str) -> list[str]:
    headers = {"Authorization": f"Bearer {await login(http, url)}"}
    made = []
    for n in range(3):
        response = await http.post(f"{url}{V}/sobjects/Account", json={"Name": f"Acme {n}"}, headers=headers)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


async def test_salesforce_record_ids_are_never_reused_across_restarts(
    own_server: Serve, http: httpx.AsyncClient
) -> None:
    await ids_across_a_restart(own_server, http, "salesforce", salesforce_accounts)


async def salesforce_contract_numbers(http: httpx.AsyncClient, url: str) -> list[str]:
    headers = {"Authorization": f"Bearer {await login(http, url)}"}
    account = await http.post(f"{url}{V}/sobjects/Account", json={"Name": "Acme"}, headers=headers)
    numbers = []
    for _ in range(3):
        created = await http.post(
            f"{url}{V}/sobjects/Contract", json={"AccountId": account.json()["id"]}, headers=headers
        )
        assert created.status_code == 201, created.text
        record = await http.get(f"{url}{V}/sobjects/Contract/{created.json()['id']}", headers=headers)
        numbers.append(record.json()["ContractNumber"])
    return numbers


async def test_salesforce_contract_numbers_are_never_reused_across_restarts(
    own_server: Serve, http: httpx.AsyncClient
) -> None:
    # Contract numbers tick every tenth of a second (10 digits at most), so six contracts made at once run 0.6 s
    # ahead of the clock; starting the sandbox again takes longer than that (it imports and binds four servers).
    await ids_across_a_restart(own_server, http, "salesforce", salesforce_contract_numbers, restart_seconds=1.0)


async def netsuite_customers(http: httpx.AsyncClient, url: str) -> list[str]:
    token = await access_token(http, url)
    body = {"companyName": "Acme", "subsidiary": {"id": "1"}, "currency": {"id": "1"}}
    made = []
    for _ in range(3):
        response = await http.put(
            f"{url}/services/rest/record/v1/customer/eid:ext-{uuid.uuid4().hex[:10]}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 204, response.text
        made.append(response.headers["Location"].rpartition("/")[2])
    return made


async def test_netsuite_internal_ids_are_never_reused_across_restarts(
    own_server: Serve, http: httpx.AsyncClient
) -> None:
    await ids_across_a_restart(own_server, http, "netsuite", netsuite_customers)


async def avatax_documents(http: httpx.AsyncClient, url: str) -> list[str]:
    made = []
    for _ in range(3):
        model = {
            "code": f"emu-{uuid.uuid4().hex[:12]}",
            "type": "SalesInvoice",
            "companyCode": "US01",
            "date": "2024-05-01",
            "customerCode": "CUST-1",
            "currencyCode": "USD",
            "addresses": {
                "shipTo": {"line1": "350 5th Ave", "city": "New York", "region": "NY", "postalCode": "10118"}
                | {"country": "US"}
            },
            "lines": [{"number": "1", "quantity": 1, "amount": 100, "taxCode": "SW054000"}],
        }
        response = await http.post(
            f"{url}/api/v2/transactions/createoradjust",
            json={"createTransactionModel": model},
            auth=httpx.BasicAuth("2000123456", "sandbox-license"),
        )
        assert response.status_code == 201, response.text
        made.append(str(response.json()["id"]))
    return made


async def test_avatax_document_ids_are_never_reused_across_restarts(own_server: Serve, http: httpx.AsyncClient) -> None:
    await ids_across_a_restart(own_server, http, "avatax", avatax_documents)
