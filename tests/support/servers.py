"""Servers for tests: an ASGI app over real HTTP on a thread or in the test's event loop, free ports, and the
CRM emulator's webhook pointed at one."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests.support.estate import Estate
from tests.support.polling import eventually


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


# What the `own_server` fixture hands a test.
Serve = Callable[[FastAPI], RunningServer]


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` over real HTTP on a background thread; port 0 picks a free port."""
    # IPPROTO_TCP explicitly: with proto 0 asyncio skips TCP_NODELAY and every request waits ~40 ms (Nagle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # timeout_graceful_shutdown: a test server does not wait for a client that keeps its connection open (the
    # Salesforce SDK tests waited out `stop()`'s 10 s join on one).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"emulator:{bound_port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"emulator on port {bound_port} did not start")
        time.sleep(0.01)
    return RunningServer(url=f"http://{host}:{bound_port}", server=server, thread=thread)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        yield url
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def crm_webhook_to(estate: Estate, url: str, secret: str) -> AsyncIterator[None]:
    """Point the CRM emulator's closed-won webhook at the trigger API for the duration of a test."""
    admin = f"{estate.urls['salesforce']}/_sandbox/webhook"
    (await estate.http.post(admin, json={"url": f"{url}/webhooks/salesforce", "secret": secret})).raise_for_status()
    try:
        yield
    finally:
        await estate.http.post(admin, json={"url": None})
