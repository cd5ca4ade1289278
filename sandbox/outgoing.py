"""The HTTP client the emulators deliver webhooks and outbound messages with.

One TLS context per process: httpx builds a new one for each client otherwise, loading the CA bundle (33 ms of CPU
per delivery when measured; the emulators made one client per webhook). The sandbox imports nothing of ours, so this
mirrors connectors.kit.tls_context."""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), verify=_tls())
