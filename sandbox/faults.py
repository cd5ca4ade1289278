"""Fault injection shared by every emulator: scripted errors, latency and lost responses.

`POST /_sandbox/faults` with a JSON rule arms it; `DELETE /_sandbox/faults` disarms all.
Rule fields: method, path_prefix, path_suffix (optional, e.g. "/pay"), times (default 1) and one `kind`:
  status       answer `status` with `headers`/`body` instead of handling the request
  delay_after  handle the request (the write happens), then wait `seconds` before answering:
               with `seconds` above the client's timeout this is a lost response
  delay_before wait `seconds`, then handle the request normally
`POST /_sandbox/latency {"seconds": s}` adds latency to every request (0 by default).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class FaultRule(BaseModel):
    method: str = "*"
    path_prefix: str = "/"
    path_suffix: str = ""
    kind: str = Field(pattern="^(status|delay_after|delay_before)$")
    status: int = 500
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    times: int = Field(default=1, ge=1)


class Latency(BaseModel):
    seconds: float = Field(ge=0)


@dataclass
class FaultBox:
    rules: list[FaultRule] = field(default_factory=list)
    latency: float = 0.0
    hits: int = 0

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first armed rule matching the request, consuming one of its `times`."""
        for rule in self.rules:
            if rule.method in ("*", method) and path.startswith(rule.path_prefix) and path.endswith(rule.path_suffix):
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
                self.hits += 1
                return rule
        return None


def install_faults(app: FastAPI) -> FaultBox:
    """Add the fault admin endpoints and middleware to an emulator app."""
    box = FaultBox()
    app.state.faults = box

    @app.post("/_sandbox/faults", include_in_schema=False)
    async def arm(rule: FaultRule) -> dict[str, int]:
        box.rules.append(rule)
        return {"armed": len(box.rules)}

    @app.delete("/_sandbox/faults", include_in_schema=False)
    async def disarm() -> dict[str, int]:
        box.rules.clear()
        return {"armed": 0}

    @app.post("/_sandbox/latency", include_in_schema=False)
    async def set_latency(latency: Latency) -> dict[str, float]:
        box.latency = latency.seconds
        return {"seconds": box.latency}

    @app.middleware("http")
    async def inject(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/_sandbox"):
            return await call_next(request)
        if box.latency:
            await asyncio.sleep(box.latency)
        rule = box.take(request.method, request.url.path)
        if rule is None:
            return await call_next(request)
        if rule.kind == "status":
            return JSONResponse(rule.body, status_code=rule.status, headers=rule.headers)
        if rule.kind == "delay_before":
            await asyncio.sleep(rule.seconds)
            return await call_next(request)
        response = await call_next(request)
        await asyncio.sleep(rule.seconds)
        return response

    return box
