"""The workers of one process: the workflow queue, and one activity queue per external system
(`{queue}-crm`, `-billing`, `-tax`, `-erp`) plus `-hub` for our store and Temporal itself; each vendor queue
carries the vendor's rate limit, so every call to that vendor counts against it, and runs at most as many activities
at once as its vendors' request rates serve within the gate's wait (the rest wait in Temporal's queue, at no cost
of an attempt: issue 16)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.billing import BillingActivities
from activities.crm import CrmActivities
from activities.customer_master import CustomerMasterActivities
from activities.erp import ErpActivities
from activities.migration import ErpMigrations
from activities.reconcile import reconcile_activities
from activities.revenue import RevenueActivities
from activities.store import StoreActivities
from activities.tax import TaxActivities
from connectors.factory import Connectors
from connectors.limits import activity_slots
from operations.starts import Trigger, triggers_by_crm
from runtime.telemetry import SagaTelemetry
from settings import Settings
from workflows import interface
from workflows.calls import LOCAL_ACTIVITIES
from workflows.customer_master import CustomerMaster
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import Reconciliation
from workflows.refund import Refund
from workflows.revenue import RevenueRecognition
from workflows.subscription import SubscriptionLifecycle
from workflows.sweep import MissedDealSweep
from workflows.usage import UsageReporting


def _methods(instance: object) -> list:
    """The bound @activity.defn methods of an activities object."""
    return [
        getattr(instance, name)
        for name in dir(instance)
        if not name.startswith("_") and hasattr(getattr(type(instance), name, None), "__temporal_activity_definition")
    ]


def _name(method: Any) -> str:
    """The registered name of an @activity.defn method."""
    return str(method.__temporal_activity_definition.name)


def queue_slots(settings: Settings, suffix: str, vendors: list[str]) -> int | None:
    """Activities this process runs at once on the `suffix` queue, whose calls go to `vendors`: the setting, else
    sized from their request rates (connectors/limits.activity_slots); None: the SDK's default."""
    if suffix in settings.activity_slots:
        return settings.activity_slots[suffix]
    return activity_slots(settings.rate_limits[vendor] for vendor in vendors if vendor in settings.rate_limits)


def build_workers(
    client: Client,
    task_queue: str,
    connectors: Connectors,
    engine: Engine,
    settings: Settings,
    workflow_runner: WorkflowRunner | None = None,
    *,
    with_workflows: bool = True,
) -> list[Worker]:
    """The workers of one process: the saga queue plus one queue per system, each with its rate limit.
    `workflow_runner`: the SDK's sandboxed runner unless given (tests share one that validates each class once);
    `with_workflows=False`: the per-system queues only (the SDK refuses a second worker on a queue its client already
    polls, even before that worker runs)."""
    store = StoreActivities(engine)
    master = CustomerMasterActivities(client, task_queue)
    # An entity moving to another ERP (activities/migration.py): shadowed before its cut-over, routed after it.
    migrations = ErpMigrations.from_settings(settings, connectors.erps, connectors.erp_plans, engine)
    per_system: list[tuple[str, list[object], float | None, list[str]]] = [
        (interface.CRM_QUEUE, [CrmActivities(connectors.crms)], settings.crm_rate_limit, connectors.crms.names()),
        (
            interface.BILLING_QUEUE,
            [BillingActivities(connectors.billings)],
            settings.billing_rate_limit,
            connectors.billings.names(),
        ),
        (interface.TAX_QUEUE, [TaxActivities(connectors.tax)], settings.tax_rate_limit, connectors.taxes.names()),
        (
            interface.ERP_QUEUE,
            [
                ErpActivities(connectors.erps, migrations),
                RevenueActivities(connectors.erps),
            ],
            settings.erp_rate_limit,
            connectors.erps.names(),
        ),
        (interface.HUB_QUEUE, [store, master], None, []),
    ]
    # Reading every system for the reconciler and the sweep, on the same per-system queues (and rate limits);
    # missed sagas start on the trigger's own path.
    trigger = Trigger.from_settings(
        client, connectors.crm, engine, settings.model_copy(update={"task_queue": task_queue})
    )
    readers = reconcile_activities(triggers_by_crm(trigger, connectors.crms), connectors, migrations)
    # Business metrics, logs and the activities' correlation context; tracing comes with the client (connect).
    telemetry = [SagaTelemetry()]
    workflows = [
        CustomerToCash,
        CustomerMaster,
        Reconciliation,
        MissedDealSweep,
        SubscriptionLifecycle,
        RevenueRecognition,
        Refund,
        UsageReporting,
    ]
    workers: list[Worker] = []
    if with_workflows:
        workers.append(
            Worker(
                client,
                task_queue=task_queue,
                workflows=workflows,
                # The hub calls the workflows run as local activities (workflows/calls.py LOCAL_ACTIVITIES).
                activities=[m for m in [*_methods(store), *_methods(master)] if _name(m) in LOCAL_ACTIVITIES],
                interceptors=telemetry,
                workflow_runner=workflow_runner or SandboxedWorkflowRunner(),
                max_cached_workflows=settings.workflow_cache,
                build_id=settings.worker_build_id,
            )
        )
    for suffix, activities, rate_limit, vendors in per_system:
        workers.append(
            Worker(
                client,
                task_queue=f"{task_queue}-{suffix}",
                activities=[m for instance in [*activities, *readers.get(suffix, [])] for m in _methods(instance)],
                max_task_queue_activities_per_second=rate_limit,
                max_concurrent_activities=queue_slots(settings, suffix, vendors),
                interceptors=telemetry,
                build_id=settings.worker_build_id,
            )
        )
    return workers
