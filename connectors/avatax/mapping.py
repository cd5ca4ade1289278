"""Canonical tax request/quote <-> AvaTax CreateTransactionModel/TransactionModel."""

from __future__ import annotations

from decimal import Decimal

from canonical import Address, Money, TaxLine, TaxQuote, TaxRequest
from canonical.records import TaxDocument
from connectors.avatax.wire import AddressLocationInfo, CreateTransactionModel, LineItemModel, TransactionModel

# SalesInvoice is a saved document (committable, voidable); SalesOrder would never be saved.
DOCUMENT_TYPE = "SalesInvoice"


def to_address(address: Address) -> AddressLocationInfo:
    wire: AddressLocationInfo = {
        "line1": address.line1,
        "city": address.city,
        "postalCode": address.postal_code,
        "country": address.country,
    }
    if address.line2:
        wire["line2"] = address.line2
    if address.region:
        wire["region"] = address.region
    return wire


def to_transaction(request: TaxRequest) -> CreateTransactionModel:
    """An uncommitted sales invoice whose code is the request's document code (the idempotency key).

    Amounts are signed: a proration credit is a negative line (quantity stays positive), which AvaTax taxes
    negatively within the same document."""
    lines: list[LineItemModel] = [
        {
            "number": str(line.number),
            "quantity": line.quantity,
            "amount": line.amount.to_decimal(),
            "taxCode": line.tax_code,
            "itemCode": line.product_code,
            "description": line.product_code,
        }
        for line in request.lines
    ]
    model: CreateTransactionModel = {
        "code": request.document_code,
        "type": DOCUMENT_TYPE,
        "companyCode": request.company_code,
        "date": request.date.isoformat(),
        "customerCode": request.customer_code,
        "currencyCode": request.currency,
        "commit": False,
        "addresses": {"shipFrom": to_address(request.ship_from), "shipTo": to_address(request.ship_to)},
        "lines": lines,
    }
    if request.customer_tax_id:
        model["businessIdentificationNo"] = request.customer_tax_id
    return model


def _money(value: Decimal, currency: str, field: str) -> Money:
    try:
        return Money.from_decimal(value, currency)
    except ValueError as error:
        raise ValueError(f"{field}: {error}") from None


def to_quote(request: TaxRequest, transaction: TransactionModel) -> TaxQuote:
    """Amounts in the request's currency; a line's rate is the sum of its jurisdictions' rates."""
    currency = request.currency
    lines = [
        TaxLine(
            number=int(line.lineNumber),
            taxable=_money(line.taxableAmount, currency, f"lines[{line.lineNumber}].taxableAmount"),
            tax=_money(line.tax, currency, f"lines[{line.lineNumber}].tax"),
            rate=sum((detail.rate for detail in line.details), Decimal(0)),
        )
        for line in transaction.lines
    ]
    return TaxQuote(
        document_code=transaction.code,
        currency=currency,
        lines=lines,
        total_taxable=_money(transaction.totalTaxable, currency, "totalTaxable"),
        total_tax=_money(transaction.totalTax, currency, "totalTax"),
        committed=transaction.status == "Committed",
    )


def tax_document(company_code: str, transaction: TransactionModel) -> TaxDocument:
    """A listed document for reconciliation: status and total tax in minor units."""
    return TaxDocument(
        company_code=company_code,
        code=transaction.code,
        status=transaction.status,
        currency=transaction.currencyCode,
        total_tax=Money.from_decimal(transaction.totalTax, transaction.currencyCode).amount,
        modified_at=transaction.modifiedDate,
    )
