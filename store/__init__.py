"""The SQL store: what outlives one workflow (crosswalk, webhook dedupe, outbox, KPI facts, watermarks)."""

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
from store.leases import LeaseRepository
from store.models import CustomerRef, GoldenCustomer, Lease, OutboxEvent, ProcessedEvent, SagaFact
from store.outbox import OutboxLag, OutboxRepository
from store.ratelimits import SqlRateBook
from store.watermarks import Watermark, WatermarkRepository
from store.watermarks import ensure_table as ensure_watermark_table
from store.webhooks import ProcessedEventRepository

__all__ = [
    "CrosswalkConflict",
    "CrosswalkRepository",
    "CustomerAmbiguous",
    "CustomerRef",
    "GoldenCustomer",
    "Lease",
    "LeaseRepository",
    "OutboxEvent",
    "OutboxLag",
    "OutboxRepository",
    "ProcessedEvent",
    "ProcessedEventRepository",
    "SqlRateBook",
    "ResolvedCustomer",
    "SagaFact",
    "SagaFactRepository",
    "SagaTotals",
    "UnknownGoldenCustomer",
    "Watermark",
    "WatermarkRepository",
    "create_schema",
    "ensure_watermark_table",
    "golden_id_for",
    "make_engine",
    "normalise_tax_id",
    "resolve_golden_customer",
    "session_scope",
]
