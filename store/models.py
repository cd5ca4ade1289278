"""Tables of what outlives one workflow: the customer crosswalk, webhook dedupe, outbox and KPI facts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timestamps are timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class GoldenCustomer(SQLModel, table=True):
    """Our own identity of a customer, independent of any vendor's id."""

    __tablename__ = "golden_customer"

    golden_id: str = Field(primary_key=True, max_length=64)
    legal_name: str
    normalised_name: str = Field(index=True)
    tax_id: str | None = Field(default=None, index=True, description="normalised: upper-case, alphanumeric")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


class CustomerRef(SQLModel, table=True):
    """One system's id for a golden customer; an id belongs to one customer.

    A CRM may hold several accounts of one company (duplicates that resolve to one golden customer);
    billing and ERP systems hold one id per customer, which `CrosswalkRepository.link` enforces."""

    __tablename__ = "customer_ref"

    system: str = Field(primary_key=True, max_length=64)
    external_id: str = Field(primary_key=True, max_length=255)
    golden_id: str = Field(foreign_key="golden_customer.golden_id", max_length=64)
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


class ProcessedEvent(SQLModel, table=True):
    """An inbound webhook event already handled; its primary key is the dedupe."""

    __tablename__ = "processed_event"

    source: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=255)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


class OutboxEvent(SQLModel, table=True):
    """A business event waiting to be published; `id` is the event's own (deterministic) id."""

    __tablename__ = "outbox_event"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=64)
    correlation_id: str = Field(index=True, max_length=255)
    business_key: str = Field(max_length=255)
    payload: str = Field(sa_type=Text, description="the CloudEvent as JSON")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)


class SagaFact(SQLModel, table=True):
    """The outcome of one saga, for KPIs (deals closed to cash, amounts per currency)."""

    __tablename__ = "saga_fact"

    workflow_id: str = Field(primary_key=True, max_length=255)
    deal_id: str = Field(max_length=255)
    legal_entity: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    total_minor: int = Field(sa_type=BigInteger, description="saga total in minor units of `currency`")
    status: str = Field(index=True, max_length=32)
    completed_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class Lease(SQLModel, table=True):
    """Who may do a job only one process may do at a time (publishing the outbox), until when."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=255)
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


TABLES: list[Table] = [
    SQLModel.metadata.tables[str(model.__tablename__)]
    for model in (GoldenCustomer, CustomerRef, ProcessedEvent, OutboxEvent, SagaFact, Lease)
]
