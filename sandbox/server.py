"""Run the emulators: all together on fixed ports (`python -m sandbox`) or one per thread (tests, bench)."""

from __future__ import annotations

import asyncio
import importlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

EMULATORS = ("salesforce", "stripe", "avatax", "netsuite")
DEFAULT_PORTS = {"salesforce": 8701, "stripe": 8702, "avatax": 8703, "netsuite": 8704}


def build_app(name: str, **options: Any) -> FastAPI:
    """The FastAPI app of one emulator; `options` go to its `create_app`."""
    if name not in EMULATORS:
        raise ValueError(f"unknown emulator {name!r}; known: {', '.join(EMULATORS)}")
    module = importlib.import_module(f"sandbox.{name}.app")
    app: FastAPI = module.create_app(**options)
    return app


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` over real HTTP on a background thread; port 0 picks a free port."""
    # IPPROTO_TCP explicitly: with proto 0 asyncio skips TCP_NODELAY and every request waits ~40 ms (Nagle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"emulator:{bound_port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"emulator on port {bound_port} did not start")
        time.sleep(0.01)
    return RunningServer(url=f"http://{host}:{bound_port}", server=server, thread=thread)


async def serve_all(host: str, ports: dict[str, int], options: dict[str, dict[str, Any]]) -> None:
    """Serve every emulator in this event loop until cancelled."""
    servers = []
    for name in EMULATORS:
        app = build_app(name, **options.get(name, {}))
        config = uvicorn.Config(app, host=host, port=ports[name], log_level="warning", access_log=False)
        servers.append(uvicorn.Server(config))
    await asyncio.gather(*(server.serve() for server in servers))
