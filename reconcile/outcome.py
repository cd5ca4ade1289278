"""What one reconciliation produced: counts, mismatches, KPIs and the repairs it started (the workflow result).

Carries ids, codes and amounts only, never names or addresses: it lands in Temporal history and in reports.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field

from canonical.records import Snapshots
from reconcile.compare import Mismatch, MismatchKind, RepairAction
from reconcile.kpis import Kpis


class RepairOutcome(BaseModel):
    mismatch: str = Field(description="Mismatch.key of what was repaired")
    action: RepairAction
    deal_id: str
    saga_id: str
    ok: bool
    detail: str = Field(description="e.g. saga started, saga already running, resumed, or why it was refused")


class Counts(BaseModel):
    deals: int = Field(description="closed-won deals in the window")
    sagas: dict[str, int] = Field(description="those deals' sagas by state: completed, cancelled, running, parked, ...")
    billing_invoices: int
    tax_documents: int
    erp_invoices: int
    erp_payments: int


class Report(BaseModel):
    since: datetime
    taken_at: datetime
    counts: Counts
    mismatches: list[Mismatch]
    kpis: Kpis
    repair_requested: bool = False
    repairs: list[RepairOutcome] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.mismatches

    def by_kind(self) -> dict[MismatchKind, int]:
        return dict(Counter(m.kind for m in self.mismatches))


def saga_state(stage: str | None, running: bool, status: str) -> str:
    if running:
        return "parked" if stage == "needs_attention" else "running"
    if stage in ("completed", "cancelled"):
        return stage
    return status.lower()


def counts(snap: Snapshots) -> Counts:
    sagas = {saga.deal_id: saga for saga in snap.sagas.sagas}
    states: Counter[str] = Counter()
    for deal in snap.crm.deals:
        saga = sagas.get(deal.deal_id)
        states["missing" if saga is None else saga_state(saga.stage, saga.running, saga.status)] += 1
    return Counts(
        deals=len(snap.crm.deals),
        sagas=dict(sorted(states.items())),
        billing_invoices=len(snap.billing.invoices),
        tax_documents=len(snap.tax.documents),
        erp_invoices=len(snap.erp.invoices),
        erp_payments=len(snap.erp.payments),
    )


def build_report(snap: Snapshots, mismatches: list[Mismatch], kpis: Kpis, *, repair_requested: bool) -> Report:
    return Report(
        since=snap.since,
        taken_at=snap.taken_at,
        counts=counts(snap),
        mismatches=mismatches,
        kpis=kpis,
        repair_requested=repair_requested,
    )
