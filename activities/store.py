"""Store activities (task queue `{queue}-hub`): our own SQL store — golden customers, outbox, KPI facts.

The store is synchronous (sqlmodel); each activity runs its unit of work in a thread and owns the
transaction (`session_scope` commits once, or rolls everything back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.errors import to_application_error
from canonical import BusinessEvent
from canonical.usage import ReportedUsage
from connectors.errors import BusinessRuleError
from store import (
    CrosswalkConflict,
    CrosswalkRepository,
    CustomerAmbiguous,
    OutboxRepository,
    SagaFactRepository,
    UnknownGoldenCustomer,
    resolve_golden_customer,
    session_scope,
)
from store.usage import UsageRepository
from workflows.interface import (
    CustomerRefs,
    LinkRefs,
    Names,
    ResolveCustomer,
    ResolvedCustomer,
    SagaFactInput,
)


@contextmanager
def crosswalk_conflicts_park() -> Iterator[None]:
    """A contradicting id or an ambiguous match in the crosswalk needs a person (merge, fix or pick), not a retry."""
    try:
        yield
    except CrosswalkConflict as conflict:
        raise to_application_error(BusinessRuleError("c2c", "crosswalk_conflict", str(conflict))) from conflict
    except CustomerAmbiguous as ambiguous:
        raise to_application_error(BusinessRuleError("c2c", "customer_ambiguous", str(ambiguous))) from ambiguous
    except UnknownGoldenCustomer as unknown:
        raise to_application_error(BusinessRuleError("c2c", "customer_ambiguous", str(unknown))) from unknown


class StoreActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Names.CUSTOMER_REFS)
    async def customer_refs(self, args: CustomerRefs) -> dict[str, str]:
        def work() -> dict[str, str]:
            with session_scope(self.engine) as session:
                return CrosswalkRepository(session).refs(args.golden_id)

        return await asyncio.to_thread(work)

    @activity.defn(name=Names.RESOLVE_CUSTOMER)
    async def resolve_customer(self, args: ResolveCustomer) -> ResolvedCustomer:
        def work() -> ResolvedCustomer:
            with crosswalk_conflicts_park(), session_scope(self.engine) as session:
                resolved = resolve_golden_customer(session, args.crm, args.customer, chosen=args.golden_id)
                golden = CrosswalkRepository(session).get(resolved.golden_id)
                assert golden is not None
                return ResolvedCustomer(
                    golden_id=resolved.golden_id,
                    legal_name=golden.legal_name,
                    created=resolved.created,
                    refs=resolved.refs,
                )

        return await asyncio.to_thread(work)

    @activity.defn(name=Names.LINK_REFS)
    async def link_refs(self, args: LinkRefs) -> None:
        def work() -> None:
            with crosswalk_conflicts_park(), session_scope(self.engine) as session:
                repo = CrosswalkRepository(session)
                for system, external_id in sorted(args.refs.items()):
                    repo.link(args.golden_id, system, external_id)

        await asyncio.to_thread(work)

    @activity.defn(name=Names.RECORD_EVENT)
    async def record_event(self, event: BusinessEvent) -> bool:
        """Add the event to the outbox; False when it was already there (a retry)."""

        def work() -> bool:
            with session_scope(self.engine) as session:
                return OutboxRepository(session).add(event)

        return await asyncio.to_thread(work)

    @activity.defn(name=Names.RECORD_FACT)
    async def record_fact(self, fact: SagaFactInput) -> None:
        def work() -> None:
            with session_scope(self.engine) as session:
                SagaFactRepository(session).record(**fact.model_dump())

        await asyncio.to_thread(work)

    @activity.defn(name=Names.RECORD_USAGE_REPORTED)
    async def record_usage_reported(self, reported: ReportedUsage) -> None:
        """What billing's meter got for a usage event (its time; late or not), once."""

        def work() -> None:
            with session_scope(self.engine) as session:
                UsageRepository(session).mark_reported(reported)

        await asyncio.to_thread(work)
