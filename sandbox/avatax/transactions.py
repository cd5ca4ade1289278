"""Transaction operations: create, create-or-adjust, commit, void and get, with AvaTax's refusals."""

from __future__ import annotations

import uuid
from typing import Any

from sandbox.avatax.addresses import Place, place, problems
from sandbox.avatax.calculation import calculate
from sandbox.avatax.models import CreateTransactionModel
from sandbox.avatax.rates import CURRENCY_DECIMALS
from sandbox.avatax.responses import AvaTaxError
from sandbox.avatax.state import COMPANIES, DEFAULT_COMPANY, AvaTaxState, Company, Document

SAVED_TYPES = frozenset({"SalesInvoice"})
ESTIMATE_TYPES = frozenset({"SalesOrder"})


def company(code: str | None) -> Company:
    found = COMPANIES.get(code or DEFAULT_COMPANY)
    if found is None:
        raise AvaTaxError.single(
            400,
            "CompanyInvalidException",
            3,
            "Company not found.",
            f"The company code '{code}' does not exist in this account.",
            target="IncorrectData",
            refers_to="companyCode",
        )
    return found


def _places(model: CreateTransactionModel, seller: Company) -> tuple[Place, Place]:
    """Ship-from and ship-to; ship-from defaults to the company's own location."""
    addresses = model.addresses
    single = addresses.singleLocation if addresses else None
    ship_from = place((addresses.shipFrom if addresses else None) or single or seller.location)
    ship_to_info = (addresses.shipTo if addresses else None) or single
    if ship_to_info is None:
        raise AvaTaxError.single(
            400,
            "MissingAddress",
            304,
            "A transaction needs a destination address.",
            "Provide addresses.shipTo or addresses.singleLocation.",
            target="IncorrectData",
            refers_to="Addresses",
        )
    ship_to = place(ship_to_info)
    found = problems(ship_from, "Addresses[0]") + problems(ship_to, "Addresses[1]")
    if found:
        raise AvaTaxError(400, "InvalidAddress", found[0]["message"], "IncorrectData", found)
    return ship_from, ship_to


def _validate(model: CreateTransactionModel) -> None:
    if model.type not in SAVED_TYPES | ESTIMATE_TYPES:
        raise AvaTaxError.single(
            400,
            "InvalidDocumentType",
            1310,
            f"Document type '{model.type}' is not supported.",
            "This account accepts SalesInvoice and SalesOrder documents.",
            target="IncorrectData",
            refers_to="type",
        )
    if model.currencyCode not in CURRENCY_DECIMALS:
        raise AvaTaxError.single(
            400,
            "InvalidParameterValue",
            306,
            f"Currency code '{model.currencyCode}' is not supported.",
            f"Supported currency codes: {', '.join(sorted(CURRENCY_DECIMALS))}.",
            target="IncorrectData",
            refers_to="currencyCode",
        )
    if not model.lines:
        raise AvaTaxError.single(
            400,
            "MissingLine",
            311,
            "A transaction needs at least one line.",
            "The lines collection was empty.",
            target="IncorrectData",
            refers_to="lines",
        )


async def create(state: AvaTaxState, model: CreateTransactionModel, *, adjust_existing: bool) -> dict[str, Any]:
    """Calculate and (for invoice types) save; an existing code is adjusted or refused."""
    seller = company(model.companyCode)
    _validate(model)
    ship_from, ship_to = _places(model, seller)
    code = model.code or str(uuid.uuid4())
    model = model.model_copy(update={"code": code})
    body = calculate(model, company_id=seller.id, ship_from=ship_from, ship_to=ship_to)
    if model.type in ESTIMATE_TYPES:
        # Estimates are never saved: id 0 and status Temporary, as AvaTax answers them.
        return {"id": 0, **body, "status": "Temporary", "version": 1, "adjustmentReason": "NotAdjusted"}
    status = "Committed" if model.commit else "Saved"
    async with state.lock:
        existing = state.documents.get((seller.code, code))
        if existing is None:
            doc = Document(state.new_id(), seller.code, code, model.type, status, 1, body)
            state.documents[(seller.code, code)] = doc
            return doc.model()
        if not adjust_existing:
            raise AvaTaxError.single(
                400,
                "TransactionAlreadyExists",
                1303,
                f"A transaction with code '{code}' already exists.",
                f"Company '{seller.code}' already has document '{code}'; use createoradjust to change it.",
                target="IncorrectData",
                refers_to="code",
            )
        return _adjusted(existing, body, status, "Other")


def _adjusted(doc: Document, body: dict[str, Any], status: str, reason: str) -> dict[str, Any]:
    """The document recalculated as `body`: a new version under the same id (AvaTax keeps the old as history)."""
    _refuse_cancelled(doc, "adjust")
    doc.body = body
    doc.status = status
    doc.version += 1
    doc.adjustment_reason = reason
    doc.touch()
    return doc.model()


async def adjust(
    state: AvaTaxState, company_code: str, code: str, reason: str, model: CreateTransactionModel
) -> dict[str, Any]:
    """`POST …/transactions/{code}/adjust`: replace the document by `newTransaction`, keeping its code and company."""
    seller = company(company_code)
    _validate(model)
    if model.type not in SAVED_TYPES:
        raise AvaTaxError.single(
            400,
            "InvalidDocumentType",
            1310,
            f"Document type '{model.type}' cannot replace a saved document.",
            "An adjustment's newTransaction must be a SalesInvoice.",
            target="IncorrectData",
            refers_to="newTransaction.type",
        )
    ship_from, ship_to = _places(model, seller)
    model = model.model_copy(update={"code": code, "companyCode": seller.code})
    body = calculate(model, company_id=seller.id, ship_from=ship_from, ship_to=ship_to)
    async with state.lock:
        doc = find(state, seller.code, code)
        return _adjusted(doc, body, "Committed" if model.commit else "Saved", reason)


def _refuse_cancelled(doc: Document, action: str) -> None:
    if doc.status == "Cancelled":
        raise AvaTaxError.single(
            400,
            "TransactionAlreadyCancelled",
            198,
            f"Cannot {action} a cancelled transaction.",
            f"Document '{doc.code}' of company '{doc.company_code}' was voided.",
            target="IncorrectData",
        )


def find(state: AvaTaxState, company_code: str, code: str) -> Document:
    company(company_code)
    doc = state.documents.get((company_code, code))
    if doc is None:
        raise AvaTaxError.single(
            404,
            "EntityNotFoundError",
            4,
            "Document not found.",
            f"The Document with code '{code}' was not found for company '{company_code}'.",
            target="HttpRequest",
        )
    return doc


async def commit(state: AvaTaxState, company_code: str, code: str, *, commit: bool) -> dict[str, Any]:
    """Commit (or uncommit) a saved document; committing a committed one changes nothing."""
    async with state.lock:
        doc = find(state, company_code, code)
        _refuse_cancelled(doc, "commit")
        status = "Committed" if commit else "Saved"
        if doc.status != status:
            doc.status = status
            doc.touch()
        return doc.model()


async def void(state: AvaTaxState, company_code: str, code: str) -> dict[str, Any]:
    """Cancel a saved or committed document; a cancelled one is refused as AvaTax refuses it."""
    async with state.lock:
        doc = find(state, company_code, code)
        if doc.status == "Cancelled":
            raise AvaTaxError.single(
                400,
                "TransactionAlreadyCancelled",
                198,
                "The transaction has already been cancelled.",
                f"The transaction '{code}' is already in a 'Cancelled' status. There is nothing to be done.",
                target="Unknown",
            )
        doc.status = "Cancelled"
        doc.touch()
        return doc.model()
