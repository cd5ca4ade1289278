"""The emulators by name and their default ports; `build_app` makes one, `serve_all` serves them all in one loop."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import uvicorn
from fastapi import FastAPI

EMULATORS = ("salesforce", "stripe", "avatax", "netsuite", "xero", "hubspot", "chargebee")
DEFAULT_PORTS = {
    "salesforce": 8701,
    "stripe": 8702,
    "avatax": 8703,
    "netsuite": 8704,
    "xero": 8705,
    "hubspot": 8706,
    "chargebee": 8707,
}


def build_app(name: str, **options: Any) -> FastAPI:
    """The FastAPI app of one emulator; `options` go to its `create_app`."""
    if name not in EMULATORS:
        raise ValueError(f"unknown emulator {name!r}; known: {', '.join(EMULATORS)}")
    module = importlib.import_module(f"sandbox.{name}.app")
    app: FastAPI = module.create_app(**options)
    return app


async def serve_all(host: str, ports: dict[str, int], options: dict[str, dict[str, Any]]) -> None:
    """Serve every emulator in this event loop until cancelled."""
    servers = []
    for name in EMULATORS:
        app = build_app(name, **options.get(name, {}))
        config = uvicorn.Config(app, host=host, port=ports[name], log_level="warning", access_log=False)
        servers.append(uvicorn.Server(config))
    await asyncio.gather(*(server.serve() for server in servers))
