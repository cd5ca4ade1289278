"""MissedDealSweep: a CRM webhook that never arrives must not lose a deal.

On a Temporal Schedule (every `C2C_SWEEP_INTERVAL_MINUTES`), ask the CRM for deals closed won since a
watermark and start the saga of each one that has none. The watermark lives in the SQL store (`watermark`
table, name `{crm}:closed_won`): the latest modification time the CRM reported for a swept deal. Each sweep reads
from `watermark - overlap`, so a deal saved while the previous sweep was reading, or stamped by a CRM clock a
little behind ours, is seen by the next one; repeats are harmless because a deal whose saga exists is skipped and
a second start of one deal is a no-op (workflow id `c2c:{crm}:{deal}`). Without a watermark (first run) it looks
back `initial_lookback`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.interface as act
    import workflows.policies as policies
    from canonical import DEFAULT_VENDORS
    from canonical.records import CrmDeal
    from workflows.calls import call_activity
    from workflows.interface import Names

CALL_TIMEOUT = timedelta(minutes=5)


def watermark_name(crm: str) -> str:
    return f"{crm}:closed_won"


class SweepInput(BaseModel):
    crm: str = DEFAULT_VENDORS.crm
    overlap: timedelta = Field(default=timedelta(minutes=15), description="read this far behind the watermark")
    initial_lookback: timedelta = Field(default=timedelta(days=1), description="the first sweep's window")


class SweepResult(BaseModel):
    since: datetime = Field(description="the CRM was asked for deals closed won since this moment")
    watermark: datetime = Field(description="the watermark after this sweep")
    found: int = Field(description="closed-won deals the CRM returned")
    started: list[act.SagaStart] = Field(default_factory=list, description="sagas this sweep started")
    existing: int = Field(default=0, description="deals whose saga existed already")
    refused: list[act.SagaStart] = Field(default_factory=list, description="deals the trigger refused (4xx)")


@workflow.defn(name="MissedDealSweep")
class MissedDealSweep:
    @workflow.run
    async def run(self, args: SweepInput) -> SweepResult:
        name = watermark_name(args.crm)
        now = workflow.now()
        mark: datetime | None = await self.hub(Names.SWEEP_READ_WATERMARK, name, datetime | None)
        since = mark - args.overlap if mark is not None else now - args.initial_lookback
        deals: list[CrmDeal] = await call_activity(
            act.CRM_QUEUE,
            Names.SWEEP_CLOSED_WON,
            act.ClosedWonSince(since=since, crm=args.crm),
            list[CrmDeal],
            timeout=CALL_TIMEOUT,
        )
        starts: list[act.SagaStart] = []
        if deals:
            request = act.StartSagas(crm=args.crm, deal_ids=[deal.deal_id for deal in deals])
            if workflow.patched("sweep-starts-on-crm-queue"):  # a start reads the deal: under the CRM's rate limit
                starts = await workflow.execute_activity(
                    Names.SWEEP_START_SAGAS,
                    request,
                    task_queue=f"{workflow.info().task_queue}-{act.CRM_QUEUE}",
                    start_to_close_timeout=CALL_TIMEOUT,
                    retry_policy=policies.HUB_RETRY,
                    result_type=list[act.SagaStart],
                )
            else:
                starts = await self.hub(Names.SWEEP_START_SAGAS, request, list[act.SagaStart])
        # Never backwards; at least `now - overlap` so a quiet CRM does not make every sweep read further back.
        candidates = [now - args.overlap, *(deal.modified_at for deal in deals)] + ([mark] if mark else [])
        watermark = await self.hub(
            Names.SWEEP_ADVANCE_WATERMARK, act.AdvanceWatermark(name=name, value=max(candidates)), datetime
        )
        return SweepResult(
            since=since,
            watermark=watermark,
            found=len(deals),
            started=[s for s in starts if s.outcome == "started"],
            existing=sum(1 for s in starts if s.outcome == "exists"),
            refused=[s for s in starts if s.outcome == "refused"],
        )

    @staticmethod
    async def hub(name: str, arg: Any, result_type: Any) -> Any:
        return await call_activity(
            act.HUB_QUEUE, name, arg, result_type, timeout=CALL_TIMEOUT, retry=policies.HUB_RETRY
        )
