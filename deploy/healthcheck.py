"""Container health check of the c2c image: `python deploy/healthcheck.py api|worker`, exit 0 healthy, 1 not.

`api` asks the trigger API's `/healthz`; `worker` asks the worker's Prometheus endpoint (`/metrics`), which
answers only while the worker process runs. Host and port come from the same settings the process reads
(`C2C_API_HOST`/`C2C_API_PORT`, `C2C_METRICS_HOST`/`C2C_METRICS_PORT`), so moving a port cannot leave the
check behind. It runs every few seconds in every container, so it stays small: urllib, no client library.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import ValidationError

# `python deploy/healthcheck.py` puts deploy/ on sys.path, not the project root where settings/ lives.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from settings import Settings  # noqa: E402

ROLES = ("api", "worker")
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def local_host(bind_host: str) -> str:
    """The address to reach a server bound to `bind_host` from inside its own container."""
    return "127.0.0.1" if bind_host in WILDCARDS else bind_host


def health_url(role: str, settings: Settings) -> str:
    """The URL whose 200 means `role` is healthy; ValueError when the role has no such endpoint."""
    if role == "api":
        return f"http://{local_host(settings.api_host)}:{settings.api_port}/healthz"
    if role == "worker":
        if not settings.metrics_port:
            raise ValueError("the worker's metrics endpoint is off (C2C_METRICS_PORT): nothing to check")
        return f"http://{local_host(settings.metrics_host)}:{settings.metrics_port}/metrics"
    raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


def answers(url: str, timeout: float = 3.0) -> bool:
    """True when `url` answers 200 within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(f"usage: healthcheck.py {'|'.join(ROLES)}\n")
        return 2
    try:
        settings = Settings()
    except ValidationError as invalid:
        # Name the settings only: the error's text would carry their values, and health output is kept by Docker.
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in invalid.errors())
        sys.stderr.write(f"unhealthy: invalid settings: {fields}\n")
        return 1
    try:
        url = health_url(argv[0], settings)
    except ValueError as problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
        return 1
    if answers(url):
        return 0
    sys.stderr.write(f"unhealthy: no 200 from {url}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
