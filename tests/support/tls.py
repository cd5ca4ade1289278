"""An emulator served over HTTPS, for vendor SDKs that only speak https:// (simple-salesforce builds every URL as
`https://{instance}`): a self-signed certificate for 127.0.0.1 per test process, and a `requests` adapter that sends
one vendor host to the emulator, as a hosts-file entry would."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import requests
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from estate.netsuite_key import self_signed
from tests.support.servers import RunningServer


@cache
def certificate_files() -> tuple[str, str]:
    """(certificate PEM path, key PEM path) of a self-signed certificate for 127.0.0.1, made once per process."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (x509.BasicConstraints(ca=True, path_length=None), True),
    ]
    private, certificate = self_signed(
        ec.generate_private_key(ec.SECP256R1()), "127.0.0.1", days=1, extensions=extensions
    )
    folder = Path(tempfile.mkdtemp(prefix="c2c-tls-"))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_text(certificate)
    key_path.write_text(private)
    return str(cert_path), str(key_path)


def client_context() -> ssl.SSLContext:
    """An SSL context that trusts the test certificate (for httpx)."""
    return ssl.create_default_context(cafile=certificate_files()[0])


def serve_tls(app: FastAPI) -> RunningServer:
    """Serve `app` over HTTPS on a free loopback port, on a background thread."""
    cert, key = certificate_files()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ssl_certfile=cert,
        ssl_keyfile=key,
        timeout_graceful_shutdown=1,  # like serve_in_thread: no wait for a client that keeps its connection
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"tls:{port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"TLS emulator on port {port} did not start")
        time.sleep(0.01)
    return RunningServer(url=f"https://127.0.0.1:{port}", server=server, thread=thread)


class HostRoute(requests.adapters.HTTPAdapter):
    """Sends requests for one https origin (e.g. the org's My Domain login host) to the emulator's origin."""

    def __init__(self, origin: str, target: str) -> None:
        super().__init__()
        self.origin, self.target = origin.rstrip("/"), target.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = self.target + request.url[len(self.origin) :]
        return super().send(request, *args, **kwargs)


def trusting_session(routes: dict[str, str] | None = None) -> requests.Session:
    """A requests session that trusts the test certificate, with `routes` (origin -> emulator origin) mounted."""
    session = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE (set on many machines) override a session's own `verify`; not here.
    session.trust_env = False
    session.verify = certificate_files()[0]
    for origin, target in (routes or {}).items():
        session.mount(origin, HostRoute(origin, target))
    return session
