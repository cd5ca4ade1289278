"""Raw REST calls to the Salesforce emulator with a valid session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

V = "/services/data/v60.0"


@dataclass
class Org:
    """An emulator URL plus a valid session, for raw REST calls."""

    url: str
    http: httpx.AsyncClient
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"{self.url}{V}{path}", json=body, headers=self.auth)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.http.patch(f"{self.url}{V}{path}", json=body, headers=self.auth)

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(f"{self.url}{V}{path}", params=params, headers=self.auth)

    async def query(self, soql: str) -> httpx.Response:
        return await self.get("/query", q=soql)

    async def state(self) -> dict[str, Any]:
        return (await self.http.get(f"{self.url}/_sandbox/state")).json()

    async def opportunity_with_line(self, key: str = "opp-1") -> str:
        account = (await self.post("/sobjects/Account", {"Name": "Acme"})).json()["id"]
        opp = (
            await self.patch(
                f"/sobjects/Opportunity/External_Key__c/{key}",
                {"Name": "Deal", "StageName": "Negotiation/Review", "CloseDate": "2024-06-30", "AccountId": account},
            )
        ).json()["id"]
        line = {"OpportunityId": opp, "Quantity": 1, "UnitPrice": 10, "ProductCode": "PLAT-SEAT"}
        assert (await self.post("/sobjects/OpportunityLineItem", line)).status_code == 201
        return opp


async def login(http: httpx.AsyncClient, url: str) -> str:
    form = {"grant_type": "client_credentials", "client_id": "c2c", "client_secret": "sandbox-secret"}
    response = await http.post(f"{url}/services/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]
