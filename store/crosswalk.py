"""The golden-record crosswalk (our customer id <-> each system's id) and the rule resolving a customer."""

from __future__ import annotations

import re
import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from canonical import Customer, normalise_legal_name
from store.models import CustomerRef, GoldenCustomer, utcnow

# Never change: golden ids are derived from it, so a retried or replayed resolution finds the same id.
GOLDEN_ID_NAMESPACE = uuid.UUID("6f1c8a52-3d4e-5b7a-9c0d-2e8f4a6b1c37")


class CrosswalkConflict(Exception):
    """A system's id is already linked to another golden customer, or the customer has another id there."""

    def __init__(self, message: str, *, golden_id: str, system: str, external_id: str) -> None:
        super().__init__(message)
        self.golden_id = golden_id
        self.system = system
        self.external_id = external_id


class CustomerAmbiguous(Exception):
    """Several golden customers match a new CRM account equally well: a person picks one (or a new one)."""

    def __init__(self, legal_name: str, candidates: list[str], reason: str) -> None:
        super().__init__(
            f"{len(candidates)} golden customers match {legal_name!r} by {reason}: {', '.join(candidates)}; "
            "retry_with_customer with the right golden_customer_id"
        )
        self.candidates = candidates


class UnknownGoldenCustomer(Exception):
    """A golden id chosen by a person that the crosswalk does not have."""


class ResolvedCustomer(BaseModel):
    """The golden id a customer resolved to, whether it was created now, and every system's id for it."""

    model_config = ConfigDict(frozen=True)

    golden_id: str
    created: bool
    refs: dict[str, str]


def golden_id_for(crm_system: str, account_id: str) -> str:
    """The deterministic golden id of a customer first seen as `account_id` in `crm_system`."""
    return "gc_" + uuid.uuid5(GOLDEN_ID_NAMESPACE, f"{crm_system}:{account_id}").hex[:20]


def normalise_tax_id(tax_id: str | None) -> str | None:
    """Tax ids compare without spaces, dots and dashes, upper-cased ('de 123.456' == 'DE123456')."""
    if tax_id is None:
        return None
    key = re.sub(r"[^0-9A-Za-z]", "", tax_id).upper()
    return key or None


class CrosswalkRepository:
    """Reads and writes golden customers and their per-system ids; never commits."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, golden_id: str) -> GoldenCustomer | None:
        return self._session.get(GoldenCustomer, golden_id)

    def find_by_ref(self, system: str, external_id: str) -> GoldenCustomer | None:
        statement = (
            select(GoldenCustomer)
            .join(CustomerRef, col(CustomerRef.golden_id) == col(GoldenCustomer.golden_id))
            .where(CustomerRef.system == system, CustomerRef.external_id == external_id)
        )
        return self._session.exec(statement).first()

    def find_by_tax_id(self, tax_id: str) -> list[GoldenCustomer]:
        """Golden customers with this tax id (normalised), oldest first."""
        key = normalise_tax_id(tax_id)
        if key is None:
            return []
        return self._oldest_first(select(GoldenCustomer).where(GoldenCustomer.tax_id == key))

    def find_by_normalised_name(self, legal_name: str) -> list[GoldenCustomer]:
        """Golden customers whose normalised legal name equals that of `legal_name`, oldest first."""
        key = normalise_legal_name(legal_name)
        return self._oldest_first(select(GoldenCustomer).where(GoldenCustomer.normalised_name == key))

    def add_golden(self, golden_id: str, legal_name: str, tax_id: str | None = None) -> GoldenCustomer:
        """Insert a golden customer; raises IntegrityError (at flush) when the id exists."""
        golden = GoldenCustomer(
            golden_id=golden_id,
            legal_name=legal_name,
            normalised_name=normalise_legal_name(legal_name),
            tax_id=normalise_tax_id(tax_id),
        )
        self._session.add(golden)
        self._session.flush()
        return golden

    def link(self, golden_id: str, system: str, external_id: str, *, one_per_customer: bool = True) -> bool:
        """Record `system`'s id of a golden customer; True if new, False if already linked; else conflict.

        `one_per_customer=False` for a CRM, where duplicate accounts of one company are legitimate."""
        if self._linked(golden_id, system, external_id, one_per_customer=one_per_customer):
            return False
        try:
            with self._session.begin_nested():
                self._session.exec(
                    insert(CustomerRef).values(
                        golden_id=golden_id, system=system, external_id=external_id, linked_at=utcnow()
                    )
                )
        except IntegrityError:
            # A concurrent transaction linked first: same pair is fine, anything else is a conflict.
            if self._linked(golden_id, system, external_id, one_per_customer=one_per_customer):
                return False
            raise
        return True

    def refs(self, golden_id: str) -> dict[str, str]:
        """System -> that system's id for the golden customer (the first linked, where a CRM has several)."""
        statement = (
            select(CustomerRef)
            .where(CustomerRef.golden_id == golden_id)
            .order_by(col(CustomerRef.linked_at).desc(), col(CustomerRef.external_id).desc())
        )
        return {ref.system: ref.external_id for ref in self._session.exec(statement)}

    def _linked(self, golden_id: str, system: str, external_id: str, *, one_per_customer: bool) -> bool:
        """Whether exactly this link exists; raises CrosswalkConflict when a contradicting one does."""
        by_id = self._session.get(CustomerRef, (system, external_id))
        if by_id is not None:
            if by_id.golden_id == golden_id:
                return True
            raise CrosswalkConflict(
                f"{system} id {external_id!r} is already linked to {by_id.golden_id}, not {golden_id}",
                golden_id=golden_id,
                system=system,
                external_id=external_id,
            )
        other = self.refs(golden_id).get(system) if one_per_customer else None
        if other is not None:
            raise CrosswalkConflict(
                f"{golden_id} already has {system} id {other!r}, cannot also link {external_id!r}",
                golden_id=golden_id,
                system=system,
                external_id=external_id,
            )
        return False

    def _oldest_first(self, statement: SelectOfScalar[GoldenCustomer]) -> list[GoldenCustomer]:
        ordered = statement.order_by(col(GoldenCustomer.created_at), col(GoldenCustomer.golden_id))
        return list(self._session.exec(ordered))


def resolve_golden_customer(
    session: Session, crm_system: str, customer: Customer, *, chosen: str | None = None
) -> ResolvedCustomer:
    """Find or create the golden customer of a CRM account and link the account to it.

    Match order: the CRM account id, then the tax id, then the normalised legal name. A name match is
    weak (suffixes are dropped, so "Acme GmbH" == "Acme Inc"): it is skipped when the tax ids differ or
    the candidate already has another account in this CRM. A tax-id match whose golden customer already
    has another account in this CRM is reused: the new account is a duplicate of the same company.
    More than one equally good candidate raises CustomerAmbiguous; `chosen` (a person's pick, an existing
    golden id) then decides for an account the crosswalk does not know yet.
    """
    account_id = customer.external_refs.get(crm_system)
    if not account_id:
        raise ValueError(f"customer {customer.legal_name!r} has no {crm_system} id in external_refs")
    repo = CrosswalkRepository(session)
    tax_id = normalise_tax_id(customer.tax_id)
    created = False
    golden = repo.find_by_ref(crm_system, account_id)
    if golden is not None and chosen is not None and golden.golden_id != chosen:
        raise CrosswalkConflict(
            f"{crm_system} account {account_id} is already linked to {golden.golden_id}, not {chosen}",
            golden_id=golden.golden_id,
            system=crm_system,
            external_id=account_id,
        )
    if golden is None and chosen is not None:
        golden = repo.get(chosen)
        if golden is None:
            raise UnknownGoldenCustomer(f"no golden customer {chosen!r}")
    if golden is None:
        golden = _match(repo, crm_system, customer, tax_id)
    if golden is None:
        golden_id = golden_id_for(crm_system, account_id)
        try:
            with session.begin_nested():
                golden = repo.add_golden(golden_id, customer.legal_name, tax_id)
            created = True
        except IntegrityError:
            # Another transaction created this account's golden customer since we looked.
            golden = repo.get(golden_id)
            if golden is None:
                raise
    repo.link(golden.golden_id, crm_system, account_id, one_per_customer=False)
    if golden.tax_id is None and tax_id is not None:
        golden.tax_id = tax_id
        session.flush()
    return ResolvedCustomer(golden_id=golden.golden_id, created=created, refs=repo.refs(golden.golden_id))


def _match(repo: CrosswalkRepository, crm_system: str, customer: Customer, tax_id: str | None) -> GoldenCustomer | None:
    """An existing golden customer for an account the crosswalk does not know yet, by tax id or name."""
    if tax_id is not None:
        by_tax = repo.find_by_tax_id(tax_id)
        if by_tax:
            free = [golden for golden in by_tax if crm_system not in repo.refs(golden.golden_id)]
            return _one(free or by_tax, customer.legal_name, "tax id")
    by_name = [
        golden
        for golden in repo.find_by_normalised_name(customer.legal_name)
        if not (tax_id is not None and golden.tax_id is not None and golden.tax_id != tax_id)
        and crm_system not in repo.refs(golden.golden_id)
    ]
    return _one(by_name, customer.legal_name, "name") if by_name else None


def _one(candidates: list[GoldenCustomer], legal_name: str, reason: str) -> GoldenCustomer:
    if len(candidates) > 1:
        raise CustomerAmbiguous(legal_name, [golden.golden_id for golden in candidates], reason)
    return candidates[0]
