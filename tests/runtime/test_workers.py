"""runtime.workers builds one worker per queue: the saga queue and one per external system, with its rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkerConfig

from connectors.factory import build_connectors
from runtime.workers import build_workers
from settings import Settings, VendorLimit
from store import make_engine


async def _configs(env: WorkflowEnvironment, task_queue: str, settings: Settings) -> dict[str, WorkerConfig]:
    """The workers `build_workers` makes for `settings`, their configs by queue suffix ("" = the saga queue)."""
    connectors = build_connectors(settings)
    try:
        workers = build_workers(env.client, task_queue, connectors, make_engine(settings.database_url), settings)
    finally:
        await connectors.close()
    return {w.config()["task_queue"].removeprefix(task_queue): w.config() for w in workers}


async def test_one_worker_per_system_queue_with_the_vendor_rate_limit(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    settings = Settings(billing_rate_limit=25, erp_rate_limit=5, database_url=f"sqlite:///{tmp_path}/c2c.db")
    configs = await _configs(temporal_env, task_queue, settings)
    assert set(configs) == {"", "-crm", "-billing", "-tax", "-erp", "-hub"}
    assert configs["-billing"].get("max_task_queue_activities_per_second") == 25
    assert configs["-erp"].get("max_task_queue_activities_per_second") == 5
    assert configs["-crm"].get("max_task_queue_activities_per_second") is None
    names = {a.__temporal_activity_definition.name for a in configs["-billing"]["activities"]}  # type: ignore[attr-defined]
    assert {"billing.create_invoice", "billing.collect_payment"} <= names
    # Only billing calls on the billing queue (the reconciler's read of billing included), so its rate limit holds.
    assert all(name.startswith("billing.") or name == "reconcile.read_billing" for name in names)
    # The sweep's CRM calls (closed-won listing, reading each missed deal before its start) count against the
    # CRM's rate limit; the hub queue holds only the store and Temporal.
    crm_names = {a.__temporal_activity_definition.name for a in configs["-crm"]["activities"]}  # type: ignore[attr-defined]
    hub_names = {a.__temporal_activity_definition.name for a in configs["-hub"]["activities"]}  # type: ignore[attr-defined]
    assert {"sweep.closed_won_since", "sweep.start_sagas", "reconcile.read_crm"} <= crm_names
    assert not hub_names & {"sweep.closed_won_since", "sweep.start_sagas", "reconcile.read_crm"}


async def test_a_rate_limited_queue_runs_as_many_activities_as_its_rate_serves_within_the_wait(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # AvaTax at 4.5/s serves 17 requests in a quarter of the gate's 15 s wait; the ERP queue serves NetSuite and
    # Xero and is sized by the tighter (Xero, 2/s); the setting overrides billing's; no rate: the SDK's default.
    limits = {
        "avatax": VendorLimit(requests_per_second=4.5),
        "netsuite": VendorLimit(requests_per_second=6.5, max_concurrency=3),
        "xero": VendorLimit(requests_per_second=2),
        "stripe": VendorLimit(requests_per_second=20),
        "salesforce": VendorLimit(daily_requests=100_000),
    }
    settings = Settings(rate_limits=limits, activity_slots={"billing": 7}, database_url=f"sqlite:///{tmp_path}/c2c.db")
    configs = await _configs(temporal_env, task_queue, settings)
    slots = {suffix: config.get("max_concurrent_activities") for suffix, config in configs.items()}
    assert slots == {"": None, "-crm": None, "-billing": 7, "-tax": 17, "-erp": 8, "-hub": None}


def test_slots_for_a_queue_no_worker_polls_are_refused() -> None:
    with pytest.raises(ValidationError, match="C2C_ACTIVITY_SLOTS 'taxes': no such queue"):
        Settings(activity_slots={"taxes": 5})
    with pytest.raises(ValidationError, match="C2C_ACTIVITY_SLOTS 'tax': 0 slots"):
        Settings(activity_slots={"tax": 0})


async def test_the_workflow_cache_is_the_setting(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C2C_WORKFLOW_CACHE bounds the workflows a process keeps in memory (a month-end backlog's RSS): the saga queue's
    worker gets it; the activity-only workers host no workflow."""
    monkeypatch.setenv("C2C_WORKFLOW_CACHE", "250")
    settings = Settings(database_url=f"sqlite:///{tmp_path}/c2c.db")
    configs = await _configs(temporal_env, task_queue, settings)
    assert configs[""].get("max_cached_workflows") == 250
    with pytest.raises(ValidationError, match="workflow_cache"):
        Settings(workflow_cache=-1)
