"""Tax calculation: per-line tax rounded half-even to the currency's minor unit, Decimal only.

A line's amount is signed, as in AvaTax: a negative line (a proration credit) gets negative tax, and the
document's totals are the net of its lines."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sandbox.avatax.addresses import Place
from sandbox.avatax.models import CreateTransactionModel, LineItemModel
from sandbox.avatax.rates import CURRENCY_DECIMALS, EU_COUNTRIES, EXEMPT_ENTITY_USE_CODES, Jurisdiction, jurisdictions

DEFAULT_TAX_CODE = "P0000000"
ZERO = Decimal(0)


def is_reverse_charge(model: CreateTransactionModel, ship_from: Place, ship_to: Place) -> bool:
    """EU B2B cross-border supply: the buyer with a VAT id accounts for the VAT."""
    return (
        bool((model.businessIdentificationNo or "").strip())
        and ship_from.country in EU_COUNTRIES
        and ship_to.country in EU_COUNTRIES
        and ship_from.country != ship_to.country
    )


def calculate(model: CreateTransactionModel, *, company_id: int, ship_from: Place, ship_to: Place) -> dict[str, Any]:
    """The TransactionModel body for a validated request, without id, status and version."""
    quantum = Decimal(1).scaleb(-CURRENCY_DECIMALS[model.currencyCode])
    reverse_charge = is_reverse_charge(model, ship_from, ship_to)
    found = jurisdictions(ship_to.country, ship_to.region, ship_to.city, reverse_charge=reverse_charge)
    lines = [_line(index, line, model, found, quantum) for index, line in enumerate(model.lines, start=1)]
    total_tax = sum((line["tax"] for line in lines), ZERO)
    messages = []
    if reverse_charge:
        messages.append(
            {
                "summary": "Reverse charge applies.",
                "details": f"VAT on this supply to {ship_to.country} is accounted for by the customer "
                f"(VAT id {model.businessIdentificationNo}).",
                "refersTo": "Lines",
                "severity": "Success",
                "source": "Avalara.AvaTax.Services.Tax",
            }
        )
    return {
        "code": model.code,
        "companyId": company_id,
        "date": model.date.isoformat(),
        "taxDate": model.date.isoformat(),
        "type": model.type,
        "customerCode": model.customerCode,
        "customerVendorCode": model.customerCode,
        "entityUseCode": model.entityUseCode,
        "businessIdentificationNo": model.businessIdentificationNo,
        "description": model.description,
        "currencyCode": model.currencyCode,
        "exchangeRateCurrencyCode": model.currencyCode,
        "exchangeRate": Decimal(1),
        "reconciled": False,
        "locked": False,
        "country": ship_to.country,
        "region": ship_to.region,
        "totalAmount": sum((line["lineAmount"] for line in lines), ZERO),
        "totalExempt": sum((line["exemptAmount"] for line in lines), ZERO),
        "totalDiscount": ZERO,
        "totalTaxable": sum((line["taxableAmount"] for line in lines), ZERO),
        "totalTax": total_tax,
        "totalTaxCalculated": total_tax,
        "lines": lines,
        "addresses": [ship_from.as_wire(), ship_to.as_wire()],
        "summary": _summary(lines),
        "messages": messages,
    }


def _line(
    index: int, line: LineItemModel, model: CreateTransactionModel, found: list[Jurisdiction], quantum: Decimal
) -> dict[str, Any]:
    use_code = (line.entityUseCode or model.entityUseCode or "").strip().upper()
    exempt = use_code in EXEMPT_ENTITY_USE_CODES
    taxable = ZERO if exempt else line.amount
    exempt_amount = line.amount if exempt else ZERO
    rate = sum((j.rate for j in found), ZERO)
    tax = _round(taxable * rate, quantum)
    return {
        "lineNumber": str(line.number) if line.number is not None else str(index),
        "itemCode": line.itemCode,
        "description": line.description,
        "quantity": line.quantity,
        "lineAmount": line.amount,
        "taxableAmount": taxable,
        "exemptAmount": exempt_amount,
        "discountAmount": ZERO,
        "tax": tax,
        "taxCalculated": tax,
        "taxCode": line.taxCode or DEFAULT_TAX_CODE,
        "entityUseCode": use_code or None,
        "isItemTaxable": not exempt,
        "taxDate": model.date.isoformat(),
        "details": _details(found, taxable, exempt_amount, tax, quantum),
    }


def _round(value: Decimal, quantum: Decimal) -> Decimal:
    """Half-even to the minor unit, symmetric for a negative (credit) line: -10.875 -> -10.88, and never -0.00."""
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN) + ZERO


def _details(
    found: list[Jurisdiction], taxable: Decimal, exempt: Decimal, line_tax: Decimal, quantum: Decimal
) -> list[dict[str, Any]]:
    """One detail per jurisdiction; the last takes the rounding remainder so details add up to the line."""
    details = []
    remaining = line_tax
    for position, juris in enumerate(found):
        if position == len(found) - 1:
            tax = remaining
        else:
            tax = _round(taxable * juris.rate, quantum)
            remaining -= tax
        details.append(
            {
                "country": juris.country,
                "region": juris.region,
                "jurisCode": juris.code,
                "jurisName": juris.name,
                "jurisdictionName": juris.name,
                "jurisdictionType": juris.type,
                "taxType": juris.tax_type,
                "taxName": juris.tax_name,
                "rateTypeCode": juris.rate_type_code,
                "sourcing": "Destination",
                "rate": juris.rate,
                "taxableAmount": taxable,
                "exemptAmount": exempt,
                "nonTaxableAmount": ZERO,
                "tax": tax,
                "taxCalculated": tax,
            }
        )
    return details


def _summary(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tax per jurisdiction and rate across all lines."""
    rows: dict[tuple[str, str, str, str, Decimal], dict[str, Any]] = {}
    for line in lines:
        for d in line["details"]:
            key = (d["country"], d["jurisName"], d["taxName"], d["rateTypeCode"], d["rate"])
            row = rows.setdefault(
                key,
                {
                    "country": d["country"],
                    "region": d["region"],
                    "jurisType": d["jurisdictionType"],
                    "jurisCode": d["jurisCode"],
                    "jurisName": d["jurisName"],
                    "taxType": d["taxType"],
                    "taxName": d["taxName"],
                    "rateType": d["rateTypeCode"],
                    "rate": d["rate"],
                    "taxable": ZERO,
                    "exemption": ZERO,
                    "tax": ZERO,
                    "taxCalculated": ZERO,
                },
            )
            row["taxable"] += d["taxableAmount"]
            row["exemption"] += d["exemptAmount"]
            row["tax"] += d["tax"]
            row["taxCalculated"] += d["tax"]
    return list(rows.values())
