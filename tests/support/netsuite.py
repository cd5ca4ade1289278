"""The NetSuite emulator as the connector tests read it: its state with exact decimals."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx


async def sandbox_state(http: httpx.AsyncClient, base_url: str) -> dict[str, Any]:
    response = await http.get(f"{base_url}/_sandbox/state")
    state: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return state
