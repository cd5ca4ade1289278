"""An entity moving to another ERP (settings `erp_migrations`; docs/decisions.md, "Issue 15: migration and shadow
mode"), seen from the ERP activities, so no workflow changes and every recorded history replays as it was.

- Before the cut-over, with `shadow`: each write still goes to the ERP the input names (the entity's current one);
  after it succeeds, both ERPs' plans of it (connectors/<vendor>/plans.py: the vendor payload built by the write's
  own mapping, read back into canonical terms, never sent) are compared and every difference is stored
  (store/shadow.py) and counted (metric `c2c_shadow_differences`). Shadow mode never fails the real write.
- From the cut-over, for an input naming the entity's old ERP (a saga or lifecycle started before it): an invoice
  dated on or after the cut-over posts to the new ERP (its customer found there by external id, or carried over from
  the old ERP's record); a payment, credit memo or credit note goes where its invoice lives (the new ERP when it holds
  the billing invoice under the id the saga recorded, else the old one). Sagas started from the cut-over name the
  new ERP themselves (Settings.vendors_for)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import ModuleType

from sqlalchemy import Engine
from temporalio import activity

from canonical import Customer, ids
from canonical.records import ErpCustomer
from canonical.reference import LEGAL_ENTITIES
from canonical.refunds import ErpInvoiceRef
from canonical.shadow import PlannedRecord, ShadowDifference, differences
from connectors.errors import PermanentError
from connectors.roles import Erp
from connectors.routing import ByVendor
from settings import Settings
from store import session_scope
from store.shadow import ShadowRepository

log = logging.getLogger("c2c.migration")
SHADOW_DIFFERENCES = "c2c_shadow_differences"


@dataclass(frozen=True)
class Move:
    entity: str
    source: str  # where the entity booked before: its open items stay there
    target: str
    cutover: date
    shadow: bool


def utc_today() -> date:
    return datetime.now(UTC).date()


class ErpMigrations:
    """The configured moves, and what they mean for one ERP call."""

    def __init__(
        self,
        moves: list[Move],
        erps: ByVendor[Erp],
        plans: dict[str, ModuleType],
        engine: Engine | None,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self.moves = {move.entity: move for move in moves}
        self.erps, self.plans, self.engine, self.today = erps, plans, engine, today

    @classmethod
    def from_settings(
        cls, settings: Settings, erps: ByVendor[Erp], plans: dict[str, ModuleType], engine: Engine | None
    ) -> ErpMigrations:
        moves = [
            Move(entity, settings.erp_before_migration(entity), migration.to, migration.cutover, migration.shadow)
            for entity, migration in settings.erp_migrations.items()
        ]
        return cls(moves, erps, plans, engine)

    def _move(self, entity: str | None, erp: str) -> Move | None:
        move = self.moves.get(entity or "")
        return move if move is not None and move.source == erp else None

    def shadowing(self, entity: str | None, erp: str) -> Move | None:
        """The move whose shadow this write to `erp` is compared in, before its cut-over."""
        move = self._move(entity, erp)
        return move if move is not None and move.shadow and self.today() < move.cutover else None

    def cut_over(self, entity: str | None, erp: str) -> Move | None:
        """The move this call to the entity's old ERP `erp` falls under, once its cut-over has come."""
        move = self._move(entity, erp)
        return move if move is not None and self.today() >= move.cutover else None

    # ---- after the cut-over -----------------------------------------------------------------------------------

    async def customer_in_target(self, move: Move, golden_id: str, currency: str) -> str:
        """The entity's customer in the new ERP: found by external id, else carried over from the old ERP's record
        (name, address, tax id) with an upsert (idempotent by external id)."""
        external_id = f"{golden_id}-{move.entity}"
        [*found] = await self.erps[move.target].customers_by_external_id([external_id])
        if found:
            return found[0].internal_id
        [*old] = await self.erps[move.source].customers_by_external_id([external_id])
        if not old or old[0].fields.name is None or old[0].fields.address is None:
            raise PermanentError(
                "c2c",
                "customer_not_migrated",
                f"customer {external_id} is in neither ERP with a name and address: it cannot move to {move.target}",
            )
        customer = Customer(
            golden_id=golden_id,
            legal_name=old[0].fields.name,
            tax_id=old[0].fields.tax_id,
            address=old[0].fields.address,
        )
        return await self.erps[move.target].upsert_customer(customer, LEGAL_ENTITIES[move.entity], currency)

    async def invoice_in_target(self, move: Move, billing_invoice_id: str, invoice_erp_id: str) -> ErpInvoiceRef | None:
        """The new ERP's invoice when the invoice lives there (it holds the billing invoice under the id the saga
        recorded), else None: it lives in the old ERP. A read, harmless on either side."""
        try:
            ref = await self.erps[move.target].erp_invoice_of(billing_invoice_id, move.entity)
        except PermanentError as error:
            if error.code == "invoice_not_found":
                return None
            raise
        return ref if ref.erp_id == invoice_erp_id else None

    async def customers_left_behind(self, erp: str, external_ids: list[str]) -> list[ErpCustomer]:
        """Of these customers `erp` does not hold, those of an entity that moved to it and are still only in the old
        ERP (a customer with no invoice since the cut-over was never carried over): the reconciler finds them
        there, where their open items are, instead of reporting them missing."""
        by_source: dict[str, list[str]] = {}
        for external_id in external_ids:
            entity = (ids.parse_erp_customer_id(external_id) or ("", ""))[1]
            move = self.moves.get(entity)
            if move is not None and move.target == erp and self.today() >= move.cutover:
                by_source.setdefault(move.source, []).append(external_id)
        found: list[ErpCustomer] = []
        for source, wanted in sorted(by_source.items()):
            found += await self.erps[source].customers_by_external_id(wanted)
        return found

    # ---- shadow mode ------------------------------------------------------------------------------------------

    async def compare(
        self,
        entity: str | None,
        erp: str,
        plan: Callable[[ModuleType], PlannedRecord],
        billing_invoice_id: str | None = None,
    ) -> int:
        """Plan the write just made to `erp` in both ERPs and record where they differ; returns how many
        differences were new. `billing_invoice_id`: an invoice, which the new ERP is also asked for (a read) — one it
        already holds would be adopted by its check-before-create instead of written. Never raises: shadow mode must
        not fail the write it watches."""
        move = self.shadowing(entity, erp)
        if move is None:
            return 0
        try:
            current = plan(self.plans[move.source])
            try:
                found = differences(current, plan(self.plans[move.target]))
            except (PermanentError, KeyError, ValueError) as error:  # the new ERP cannot book it at all
                found = [ShadowDifference(field="plan", current="planned", shadow=f"refused: {error}")]
            if billing_invoice_id is not None:
                found += await self._already_there(move, billing_invoice_id)
            return self._record(move, current, found)
        except Exception:
            log.exception("shadow comparison failed: %s from %s to %s", move.entity, erp, move.target)
            return 0

    async def _already_there(self, move: Move, billing_invoice_id: str) -> list[ShadowDifference]:
        try:
            ref = await self.erps[move.target].erp_invoice_of(billing_invoice_id, move.entity)
        except PermanentError as error:
            if error.code == "invoice_not_found":
                return []
            raise
        return [ShadowDifference(field="already in new ERP", current="posted", shadow=f"exists as {ref.erp_id}")]

    def _record(self, move: Move, current: PlannedRecord, found: list[ShadowDifference]) -> int:
        if not found:
            return 0
        fields = ", ".join(difference.field for difference in found)
        log.warning(
            "shadow difference: %s %s %s, %s vs %s: %s",
            move.entity,
            current.kind.value,
            current.key,
            move.source,
            move.target,
            fields,
        )
        new = len(found)
        if self.engine is not None:
            with session_scope(self.engine) as session:
                new = ShadowRepository(session).record(
                    move.entity, current.kind.value, current.key, (move.source, move.target), found
                )
        if new and activity.in_activity():
            counter = activity.metric_meter().create_counter(
                SHADOW_DIFFERENCES, "fields where a migrating entity's new ERP would book otherwise"
            )
            counter.add(new, {"legal_entity": move.entity, "kind": current.kind.value, "shadow_erp": move.target})
        return new
