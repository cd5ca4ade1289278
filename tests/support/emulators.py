"""The vendor emulators a test session (or one test) talks to over real HTTP, each started on first use."""

from __future__ import annotations

from sandbox.server import build_app
from tests.support.netsuite import EMULATOR_OPTIONS
from tests.support.servers import RunningServer, serve_in_thread


class Emulators:
    """Starts each vendor emulator on first use, on a free loopback port; `stop` ends them."""

    def __init__(self) -> None:
        self._running: dict[str, RunningServer] = {}

    # Bank debits settle 2 s after the charge: long enough that a test always sees them pending first.
    OPTIONS: dict[str, dict[str, object]] = {"stripe": {"async_settle_seconds": 2.0}, "netsuite": EMULATOR_OPTIONS}

    def url(self, name: str) -> str:
        if name not in self._running:
            self._running[name] = serve_in_thread(build_app(name, **self.OPTIONS.get(name, {})))
        return self._running[name].url

    def stop(self) -> None:
        for server in self._running.values():
            server.stop()
