"""UsageReporting: one usage event, reported once to the billing meter of its usage-priced product.

One workflow per event, `c2c:usage:{event id}` (canonical.ids.usage_report_id), started by the trigger API once it
has stored the event (a second start of the same event joins or finds this one):

    report    the event as a meter event identified by its event id (billing refuses an identifier twice), stamped
              at its own time, or at the open period's start when its period closed before it got there (late)
    record    what billing got, in the store: the time it bills from and whether it came late

Why a workflow and not the API handler: the report survives billing being down (Temporal retries it), the API
answers as soon as the event is stored, and the workflow id makes the report happen once per event however often
the product system sends it. Why not a signal to the subscription's lifecycle: usage can be many events a
period, which would grow the lifecycle's history without it needing any of them (billing sums them).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.interface as act
    import workflows.policies as policies
    from canonical.usage import ReportedUsage, UsageReport
    from workflows.calls import call_activity
    from workflows.interface import Names


@workflow.defn(name="UsageReporting")
class UsageReporting:
    @workflow.run
    async def run(self, report: UsageReport) -> ReportedUsage:
        reported: ReportedUsage = await self.call(
            act.BILLING_QUEUE,
            Names.REPORT_USAGE,
            # to the billing system of the subscription's entity; reports stored before that named none: the default
            act.ReportUsage(
                report=report,
                idempotency_key=workflow.info().workflow_id,
                **({"billing": report.billing} if report.billing else {}),
            ),
            ReportedUsage,
        )
        await self.call(act.HUB_QUEUE, Names.RECORD_USAGE_REPORTED, reported)
        return reported

    @staticmethod
    async def call(queue: str, name: str, arg: Any, result_type: Any = None) -> Any:
        return await call_activity(queue, name, arg, result_type, timeout=policies.ACTIVITY_TIMEOUT)
