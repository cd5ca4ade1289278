"""Small builders and counters shared by the store tests."""

from __future__ import annotations

from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select

from canonical import Address, Customer

ADDRESS = Address(line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country="US")


def customer(legal_name: str = "Acme, Inc.", *, tax_id: str | None = None, **refs: str) -> Customer:
    """A customer as a CRM connector maps it; `refs` are system=id pairs."""
    return Customer(legal_name=legal_name, tax_id=tax_id, address=ADDRESS, external_refs=refs)


def count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()
