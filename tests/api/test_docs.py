"""The API's own documentation works offline and says how to authenticate."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from tests.support.estate import all_emulators, running_estate


@pytest.fixture
async def api(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_every_asset_from_the_api_itself(api: httpx.AsyncClient, page: str) -> None:
    html = await api.get(page)
    assert html.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css|png))["']""", html.text)
    assert assets, html.text
    assert [a for a in assets if not a.startswith("/")] == []  # nothing from a CDN
    for asset in assets:
        served = await api.get(asset)
        assert (asset, served.status_code, len(served.content) > 1000) == (asset, 200, True)


async def test_the_openapi_document_declares_the_bearer_token_on_the_finance_endpoints(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": schemes["HTTPBearer"]["description"]}
    }
    assert spec["paths"]["/sagas"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/webhooks/stripe"]["post"]  # webhooks are signed, not token-bearing


async def test_a_request_without_a_token_is_still_the_apis_own_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/sagas")
    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
