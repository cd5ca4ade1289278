"""`python worker.py` and `python starter.py` as real processes, including a worker killed mid-step; finance's
further commands in-process (tests/support/cli.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from connectors.factory import build_connectors
from connectors.salesforce import SalesforceCrm
from estate.book import GLOBEX, DealSpec
from estate.deals import seed_deal
from settings import Settings
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.netsuite import worker_env
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaInput, Stage

ROOT = Path(__file__).resolve().parents[1]
DEAL = DealSpec("PROC-1", GLOBEX, "US01", "USD", [("ANALYTICS", 2, Decimal("199.00"))])


def process_env(
    temporal_env: WorkflowEnvironment, urls: dict[str, str], task_queue: str, tmp_path: Path
) -> dict[str, str]:
    """What an operator would export: the same settings the in-process tests build."""
    return {
        **os.environ,
        "C2C_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "C2C_TASK_QUEUE": task_queue,
        "C2C_DATABASE_URL": f"sqlite:///{tmp_path}/c2c.db",
        "C2C_HTTP_TIMEOUT": "1",
        "C2C_PAYLOAD_KEYS_FILE": "",  # plaintext, like the test's own client, whatever var/ holds
        **worker_env(),
        **{f"C2C_{name.upper()}_URL": url for name, url in urls.items()},
    }


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def run(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
async def crm(emulators: Any) -> AsyncIterator[SalesforceCrm]:
    settings = Settings(salesforce_url=emulators.url("salesforce"))
    connectors = build_connectors(settings)
    assert isinstance(connectors.crm, SalesforceCrm)
    yield connectors.crm
    await connectors.close()


async def test_a_worker_killed_mid_write_is_replaced_and_the_write_happens_once(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, spawn: Any, crm: SalesforceCrm
) -> None:
    urls = all_emulators(emulators)
    env = process_env(temporal_env, urls, task_queue, tmp_path)
    first = spawn(["worker.py"], env)
    deal_id = await seed_deal(crm, DealSpec(**{**DEAL.__dict__, "key": f"PROC-{task_queue}"}), close=True)
    async with httpx.AsyncClient() as http:
        # The invoice's tax line is written, then its answer is held back: the worker dies while waiting.
        fault = {"method": "POST", "path_prefix": "/v1/invoiceitems", "kind": "delay_after", "seconds": 4}
        (await http.post(f"{urls['stripe']}/_sandbox/faults", json=fault)).raise_for_status()
        handle = await temporal_env.client.start_workflow(
            CustomerToCash.run,
            SagaInput(deal_id=deal_id, activity_timeout=timedelta(seconds=3)),
            id=f"c2c:salesforce:{deal_id}",
            task_queue=task_queue,
        )

        async def invoice_written() -> list[dict[str, Any]]:
            try:
                subscription = (await handle.query(CustomerToCash.status)).external_ids.get("subscription")
            except RPCError:  # the query waits for a worker; on a loaded machine it may time out: ask again
                return []
            invoices = (await http.get(f"{urls['stripe']}/_sandbox/state")).json()["invoices"]
            return [i for i in invoices if subscription and i.get("subscription") == subscription]

        async def tax_line_written() -> bool:
            lines = [line for i in await invoice_written() for line in i["lines"]["data"]]
            return any(line.get("metadata", {}).get("c2c_line") == "tax" for line in lines)

        await eventually(tax_line_written, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = spawn(["worker.py"], env)
        result = await asyncio.wait_for(handle.result(), timeout=90)

        assert result.outcome is Stage.COMPLETED
        [invoice] = await invoice_written()
        assert (invoice["id"], invoice["status"]) == (result.external_ids["invoice"], "paid")
        taxes = [line for line in invoice["lines"]["data"] if line.get("metadata", {}).get("c2c_line") == "tax"]
        assert len(taxes) == 1  # the retry on the new worker did not add a second tax line
        history = await handle.fetch_history()
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        attempts = {
            scheduled[
                e.activity_task_started_event_attributes.scheduled_event_id
            ]: e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        }
        # The attempt on the dead worker timed out; the next one, on the new worker, replayed the write.
        assert attempts["billing.create_invoice"] >= 2
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0  # graceful shutdown on SIGTERM


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        yield estate


async def test_starter_cli_starts_one_deal_by_hand_and_refuses_unknown_ones(
    estate: Estate, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, in_process_cli: Any
) -> None:
    env = process_env(temporal_env, estate.urls, task_queue, tmp_path)
    deal_id = await estate.closed_deal(DEAL)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "starter.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    started = await asyncio.to_thread(cli, "start", deal_id)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"c2c:salesforce:{deal_id}" in started.stdout
    result = await estate.client.get_workflow_handle_for(CustomerToCash.run, f"c2c:salesforce:{deal_id}").result()
    assert result.outcome is Stage.COMPLETED
    # The same commands in this process (the real process above proved the entry point; each costs its imports).
    here = in_process_cli(env)
    again, status = await here("start", deal_id), await here("show", deal_id)
    missing, unknown = await here("show", "006000000000000AAA"), await here("start", "006000000000000AAA")
    pack = tmp_path / "evidence.json"
    exported = await here("evidence", deal_id, "--out", str(pack))
    assert exported.returncode == 0, exported.stdout
    final = json.loads(pack.read_text())["history"]["final_hash"]
    assert f"final hash {final}" in exported.stdout  # stderr, which the runner's output holds too
    verified = await here("evidence", "--verify", str(pack), "--expect", final)
    assert (verified.returncode, f"final hash {final}" in verified.stdout) == (0, True)
    assert (again.returncode, "already finished" in again.stdout) == (0, True)
    assert "stage=completed" in status.stdout
    assert "erp_payment" in status.stdout  # ids in every system
    assert (missing.returncode, "no saga for deal" in missing.stdout) == (1, True)
    assert unknown.returncode == 1
    assert "deal_not_found" in unknown.stdout


async def test_finance_lists_parked_sagas_and_resolves_one_from_the_cli(
    estate: Estate, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, in_process_cli: Any
) -> None:
    from estate.book import NOWHERE

    env = process_env(temporal_env, estate.urls, task_queue, tmp_path)
    spec = DealSpec("PROC-PARK", NOWHERE, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49.00"))])
    deal_id = await estate.closed_deal(spec)
    started = await estate.trigger.start(deal_id)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)

    cli = in_process_cli(env)

    async def listed() -> str | None:
        out = (await cli("list", "--exception", "invalid_address", "--entity", "US01")).stdout
        return out if deal_id in out else None

    assert "invalid_address" in await eventually(listed)
    other = await cli("list", "--exception", "period_closed")
    bad_filter = await cli("list", "--currency", "dollars")
    bad = await cli("resolve", deal_id, "--action", "retry_with_address", "--address", "{not json")
    partial = await cli("resolve", deal_id, "--action", "retry_with_address", "--address", '{"line1": "1 Market St"}')
    assert deal_id not in other.stdout
    assert (bad_filter.returncode, "bad filter" in bad_filter.stdout) == (2, True)
    assert (bad.returncode, bad.stdout.count("\n"), "bad address: --address is not JSON" in bad.stdout) == (2, 1, True)
    assert (partial.returncode, partial.stdout.count("\n")) == (2, 1), partial.stdout  # one line, not a dump
    assert "city is missing" in partial.stdout
    address = (
        '{"line1": "1 Market St", "city": "San Francisco", "region": "CA", "postal_code": "94105", "country": "US"}'
    )
    fixed = await cli("resolve", deal_id, "--action", "retry_with_address", "--address", address)
    assert fixed.returncode == 0, fixed.stdout
    assert (await handle.result()).outcome is Stage.COMPLETED
    again, shown = await cli("resolve", deal_id, "--action", "retry"), await cli("show", deal_id)
    assert again.returncode == 1
    assert "saga_ended: the saga of deal" in again.stdout
    assert "has ended (completed)" in again.stdout
    assert "resolution: retry_with_address" in shown.stdout  # who and why, in the timeline
    assert "by " in shown.stdout


async def test_finance_cancels_a_parked_saga_from_the_cli(
    estate: Estate, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, in_process_cli: Any
) -> None:
    from estate.book import NOWHERE

    env = process_env(temporal_env, estate.urls, task_queue, tmp_path)
    spec = DealSpec("PROC-CANCEL", NOWHERE, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49.00"))])
    deal_id = await estate.closed_deal(spec)
    started = await estate.trigger.start(deal_id)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)
    await eventually(lambda: _parked(handle))

    cli = in_process_cli(env)
    no_note, cancelled = await cli("cancel", deal_id), await cli("cancel", deal_id, "--note", "customer withdrew")
    assert no_note.returncode == 2  # --note is required
    assert cancelled.returncode == 0, cancelled.stdout
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    stripe = await estate.state("stripe")
    [subscription] = [s for s in stripe["subscriptions"] if s["id"] == result.external_ids["subscription"]]
    assert subscription["status"] == "canceled"


async def _parked(handle: Any) -> bool:
    return (await handle.query(CustomerToCash.status)).stage is Stage.NEEDS_ATTENTION
