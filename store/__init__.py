"""The SQL store: what outlives one workflow (crosswalk, webhook dedupe, outbox, KPI facts)."""

from store.crosswalk import (
    CrosswalkConflict,
    CrosswalkRepository,
    CustomerAmbiguous,
    ResolvedCustomer,
    UnknownGoldenCustomer,
    golden_id_for,
    normalise_tax_id,
    resolve_golden_customer,
)
from store.db import create_schema, make_engine, session_scope
from store.facts import SagaFactRepository, SagaTotals
from store.models import CustomerRef, GoldenCustomer, OutboxEvent, ProcessedEvent, SagaFact
from store.outbox import OutboxRepository
from store.webhooks import ProcessedEventRepository

__all__ = [
    "CrosswalkConflict",
    "CrosswalkRepository",
    "CustomerAmbiguous",
    "CustomerRef",
    "GoldenCustomer",
    "OutboxEvent",
    "OutboxRepository",
    "ProcessedEvent",
    "ProcessedEventRepository",
    "ResolvedCustomer",
    "SagaFact",
    "SagaFactRepository",
    "SagaTotals",
    "UnknownGoldenCustomer",
    "create_schema",
    "golden_id_for",
    "make_engine",
    "normalise_tax_id",
    "resolve_golden_customer",
    "session_scope",
]
