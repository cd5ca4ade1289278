"""The chaos run's processes: estate.processes.Estate on free ports, with a worker to kill and a server to restart.

Everything listens on ports picked at start (no clash with `make up`, a demo or a test session), Temporal keeps
its state in a SQLite file under the run's var dir, and each process logs to `{var}/logs/`. A killed worker is
replaced by a new process with its own log (`worker-2.log`, …); the Temporal server restarts on the same file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canonical import Vendors
from codec import new_key
from estate.book import DealSpec
from estate.netsuite_key import NetSuiteKey, netsuite_key
from estate.processes import Estate, Ports, temporal_binary, wait_for_port
from settings import Settings
from workflows import search_attributes

# The run's two estates side by side: deals sold in either CRM (each one's webhook starts its sagas), and UK01 billing
# in Chargebee and booking in Xero while US01 and DE01 stay on Stripe and NetSuite.
CRMS = ("salesforce", "hubspot")
VENDORS_BY_ENTITY = {"UK01": Vendors(billing="chargebee", erp="xero")}


def vendors_of(spec: DealSpec) -> Vendors:
    """The billing system and ERP the run's settings route the deal's legal entity to."""
    return VENDORS_BY_ENTITY.get(spec.legal_entity, Vendors())


def billing_of(spec: DealSpec) -> str:
    return vendors_of(spec).billing


@dataclass
class ChaosEstate(Estate):
    """Temporal dev server, sandbox (chaos on), worker and trigger API of one chaos run."""

    ports: Ports = field(default_factory=Ports.pick)
    http_timeout: float = 3.0
    worker_starts: int = 0
    server_starts: int = 0

    def settings(self) -> Settings:
        """What the worker and the trigger API run with; the run's own client uses the same."""
        urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.sandbox.items()}
        return Settings(
            _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init option
            temporal_address=f"127.0.0.1:{self.ports.temporal}",
            salesforce_url=urls["salesforce"],
            stripe_url=urls["stripe"],
            avatax_url=urls["avatax"],
            netsuite_url=urls["netsuite"],
            xero_url=urls["xero"],
            hubspot_url=urls["hubspot"],
            chargebee_url=urls["chargebee"],
            crms=",".join(CRMS),
            vendors_by_entity=VENDORS_BY_ENTITY,
            api_host="127.0.0.1",
            api_port=self.ports.api,
            metrics_port=self.ports.metrics,
            database_url=f"sqlite:///{self.var / 'c2c.db'}",
            payload_keys_file=str(self.var / "payload-keys"),
            netsuite_private_key_file=str(self.netsuite_key.key_file),
            netsuite_certificate_id=self.netsuite_key.certificate_id,
            http_timeout=self.http_timeout,
        )

    @property
    def netsuite_key(self) -> NetSuiteKey:
        return netsuite_key(self.var)

    def prepare(self) -> None:
        """A var dir without an earlier run's files, and a payload key: every system starts empty together."""
        self.var.mkdir(parents=True, exist_ok=True)
        # Only what a run writes, never the whole directory: `--var` may point anywhere.
        for leftover in self.var.glob("*.db*"):
            leftover.unlink()
        shutil.rmtree(self.var / "logs", ignore_errors=True)
        keys = self.var / "payload-keys"
        keys.write_text(new_key())
        keys.chmod(0o600)
        settings = self.settings()
        self.env.update(
            {
                "C2C_TEMPORAL_ADDRESS": settings.temporal_address,
                "C2C_SALESFORCE_URL": settings.salesforce_url,
                "C2C_STRIPE_URL": settings.stripe_url,
                "C2C_AVATAX_URL": settings.avatax_url,
                "C2C_NETSUITE_URL": settings.netsuite_url,
                "C2C_XERO_URL": settings.xero_url,
                "C2C_HUBSPOT_URL": settings.hubspot_url,
                "C2C_CHARGEBEE_URL": settings.chargebee_url,
                "C2C_CRMS": ",".join(CRMS),
                "C2C_VENDORS_BY_ENTITY": json.dumps({e: v.model_dump() for e, v in VENDORS_BY_ENTITY.items()}),
                "C2C_API_HOST": settings.api_host,
                "C2C_API_PORT": str(settings.api_port),
                "C2C_METRICS_PORT": str(settings.metrics_port),
                "C2C_DATABASE_URL": settings.database_url,
                "C2C_PAYLOAD_KEYS_FILE": str(settings.payload_keys_file),
                "C2C_HTTP_TIMEOUT": str(settings.http_timeout),
                **self.netsuite_key.env(),
            }
        )
        for name in ("C2C_PAYLOAD_KEYS", "TEMPORAL_ADDRESS", "C2C_TASK_QUEUE", "C2C_CRM"):
            self.env.pop(name, None)  # the run's own settings, whatever the caller's shell exports

    def start_server(self) -> None:
        """The Temporal dev server on its SQLite file (created on the first start, reopened on a restart)."""
        self.server_starts += 1
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.var / "temporal.db"),
            "--port",
            str(self.ports.temporal),
            "--headless",
            "--log-level",
            "error",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
        for key in search_attributes.ALL:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        self.spawn(self._numbered("temporal", self.server_starts), args, self.ports.temporal)

    def start_sandbox(self, chaos: dict[str, Any] | None) -> None:
        api = f"http://127.0.0.1:{self.ports.api}"
        args = ["-m", "sandbox", "--crm-webhook-url", f"{api}/webhooks/salesforce"]
        args += ["--stripe-webhook-url", f"{api}/webhooks/stripe"]
        args += ["--hubspot-webhook-url", f"{api}/webhooks/hubspot"]  # signed webhooks v3
        for name, port in self.ports.sandbox.items():
            args += [f"--{name}-port", str(port)]
        args += self.netsuite_key.sandbox_args(self.settings().netsuite_client_id)
        if chaos is not None:
            args += ["--chaos-profile", json.dumps(chaos)]
        self.start_python("sandbox", args, None)
        for name, port in self.ports.sandbox.items():
            wait_for_port(port, f"sandbox ({name})", self._process("sandbox"), self.var / "logs" / "sandbox.log")

    def start_worker(self) -> None:
        self.worker_starts += 1
        self.start_python(self._numbered("worker", self.worker_starts), ["worker.py"], None)

    def start_api(self) -> None:
        self.start_python("api", ["starter.py", "serve"], self.ports.api)

    def start(self, chaos: dict[str, Any] | None) -> None:
        """Everything, in dependency order; on any failure nothing is left running."""
        self.start_backends(chaos)
        self.start_services()

    def start_backends(self, chaos: dict[str, Any] | None) -> None:
        """The Temporal server and the sandbox (what a billing test clock is created in before the worker starts)."""
        try:
            self.start_server()
            self.start_sandbox(chaos)
        except BaseException:
            self.stop()
            raise

    def start_services(self, extra_env: dict[str, str] | None = None) -> None:
        """The worker and the trigger API, with `extra_env` (e.g. C2C_STRIPE_TEST_CLOCK) for them and their
        replacements."""
        self.env.update(extra_env or {})
        try:
            self.start_worker()
            self.start_api()
        except BaseException:
            self.stop()
            raise

    def kill_worker(self) -> None:
        """SIGKILL the running worker: no shutdown, its in-flight activities time out on the server."""
        self._kill(self._process(self.worker_name()))

    def kill_server(self) -> None:
        """SIGKILL the Temporal dev server; what it acknowledged is in its SQLite file (WAL)."""
        self._kill(self._process(self._numbered("temporal", self.server_starts)))

    def restart_server(self) -> None:
        self.kill_server()
        self.start_server()

    def stop(self) -> None:
        """Worker and API first, then the sandbox and the server (Estate.stop signals all at once, and a worker
        whose server is already gone spends its whole grace period reconnecting); SIGKILL whatever lingers."""
        first = [(n, p) for n, p in self.processes if n.startswith(("worker", "api"))]
        rest = [(n, p) for n, p in self.processes if (n, p) not in first]
        for group in (first, rest):
            for _, process in group:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for _, process in group:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._kill(process)
        self.processes.clear()

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _process(self, name: str) -> subprocess.Popen[bytes]:
        return next(process for n, process in reversed(self.processes) if n == name)

    @staticmethod
    def _numbered(name: str, n: int) -> str:
        return name if n == 1 else f"{name}-{n}"

    def worker_name(self) -> str:
        return self._numbered("worker", self.worker_starts)

    def alive(self, name: str) -> bool:
        return any(n == name and process.poll() is None for n, process in self.processes)


def default_var() -> Path:
    return Path("var") / "chaos"
