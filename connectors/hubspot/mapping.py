"""HubSpot objects <-> canonical objects; every refusal names the HubSpot object and property at fault.

A deal is billable from its standard properties (`dealname`, `dealstage`, `closedate`, `deal_currency_code`), the
c2c properties `c2c_legal_entity`, `c2c_term_months`, `c2c_billing_period` (Monthly / Annual), its primary company
(the customer) and its line items (`hs_sku` = product code, `quantity`, `price` per billing period)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import InvalidOperation

from canonical import (
    AccountSnapshot,
    Address,
    Amendment,
    AmendmentKind,
    AmendmentLine,
    BillingPeriod,
    Customer,
    Deal,
    DealLine,
    Money,
)
from canonical.contract import term_end
from canonical.records import CrmAccount, CrmContract, CrmDeal, CustomerFields
from connectors.crm_fields import COUNTRY, UnmappableRecord, money
from connectors.crm_fields import currency as known_currency
from connectors.crm_fields import required as _required
from connectors.crm_fields import whole as _whole
from connectors.hubspot.wire import CompanyProperties, DealProperties, LineItemProperties

SYSTEM = "hubspot"
BILLING_PERIODS = {"Monthly": BillingPeriod.MONTH, "Annual": BillingPeriod.YEAR}
# write_back_account ref key -> company property.
COMPANY_REF_PROPERTIES = {
    "golden_id": "c2c_golden_id",
    "billing_id": "c2c_billing_customer_id",
    "erp_id": "c2c_erp_customer_id",
}
# c2c_change_type -> what the won deal does to the contract it references (c2c_contract_deal_id).
AMENDMENT_KINDS = {
    "amendment": AmendmentKind.AMENDMENT,
    "renewal": AmendmentKind.RENEWAL,
    "cancellation": AmendmentKind.CANCELLATION,
}


def currency_of(deal_id: str, deal: DealProperties) -> str:
    return known_currency(deal.deal_currency_code, f"deal {deal_id} deal_currency_code")


def address(company_id: str, company: CompanyProperties) -> Address:
    parts = {"address": company.address, "city": company.city, "zip": company.zip, "country": company.country}
    missing = [name for name, value in parts.items() if value is None or not value.strip()]
    if missing:
        raise UnmappableRecord(f"company {company_id} billing address is incomplete: missing {', '.join(missing)}")
    country = (company.country or "").strip()
    if not COUNTRY.match(country):
        raise UnmappableRecord(f"company {company_id} country {country!r} is not an ISO-3166 alpha-2 code")
    return Address(
        line1=(company.address or "").strip(),
        line2=(company.address2 or "").strip() or None,
        city=(company.city or "").strip(),
        region=(company.state or "").strip() or None,
        postal_code=(company.zip or "").strip(),
        country=country,
    )


def customer(company_id: str, company: CompanyProperties) -> Customer:
    return Customer(
        golden_id=company.c2c_golden_id,
        legal_name=_required(company.name, f"company {company_id} name"),
        tax_id=company.c2c_tax_id,
        email=company.c2c_billing_email,
        address=address(company_id, company),
        external_refs={SYSTEM: company_id},
    )


def account_snapshot(company_id: str, company: CompanyProperties) -> AccountSnapshot:
    modified = company.hs_lastmodifieddate
    if modified is None or modified.tzinfo is None:
        raise UnmappableRecord(f"company {company_id} has no hs_lastmodifieddate with a time zone")
    return AccountSnapshot(customer=customer(company_id, company), modified_at=modified)


def deal_line(line_id: str, line: LineItemProperties, currency: str) -> DealLine:
    where = f"line item {line_id}"
    quantity = _whole(line.quantity, f"{where} quantity")
    if quantity <= 0:
        raise UnmappableRecord(f"{where} quantity must be positive, got {quantity}")
    unit_price = money(line.price, currency, f"{where} price")
    if unit_price.is_negative:
        raise UnmappableRecord(f"{where} price is negative ({line.price})")
    return DealLine(
        product_code=_required(line.hs_sku, f"{where} hs_sku"),
        description=line.description or line.name,
        quantity=quantity,
        unit_price=unit_price,
    )


def to_deal(
    deal_id: str,
    deal: DealProperties,
    closed_won: bool,
    company: tuple[str, CompanyProperties],
    lines: list[tuple[str, LineItemProperties]],
) -> Deal:
    """The canonical Deal; raises UnmappableRecord (or pydantic's ValidationError) when it cannot be one."""
    currency = currency_of(deal_id, deal)
    if not lines:
        raise UnmappableRecord(f"deal {deal_id} has no line items")
    period = BILLING_PERIODS.get(deal.c2c_billing_period or "")
    if period is None:
        raise UnmappableRecord(
            f"deal {deal_id} c2c_billing_period {deal.c2c_billing_period!r} is not Monthly or Annual"
        )
    if deal.closedate is None:
        raise UnmappableRecord(f"deal {deal_id} closedate is empty")
    return Deal(
        crm=SYSTEM,
        deal_id=deal_id,
        name=_required(deal.dealname, f"deal {deal_id} dealname"),
        stage=_required(deal.dealstage, f"deal {deal_id} dealstage"),
        closed_won=closed_won,
        close_date=deal.closedate,
        currency=currency,
        legal_entity=_required(deal.c2c_legal_entity, f"deal {deal_id} c2c_legal_entity"),
        term_months=_whole(deal.c2c_term_months, f"deal {deal_id} c2c_term_months"),
        billing_period=period,
        customer=customer(*company),
        lines=[deal_line(line_id, line, currency) for line_id, line in lines],
    )


def amendment_line(line_id: str, line: LineItemProperties, currency: str) -> AmendmentLine:
    """A line item of a change: its quantity is the change (nonzero, negative for a reduction)."""
    where = f"line item {line_id}"
    return AmendmentLine(
        product_code=_required(line.hs_sku, f"{where} hs_sku"),
        quantity_change=_whole(line.quantity, f"{where} quantity"),
        unit_price=money(line.price, currency, f"{where} price"),
    )


def to_amendment(deal_id: str, deal: DealProperties, lines: list[tuple[str, LineItemProperties]]) -> Amendment:
    """The canonical Amendment of a won deal that changes the contract on deal `c2c_contract_deal_id`."""
    kind = AMENDMENT_KINDS.get(deal.c2c_change_type or "")
    if kind is None:
        raise UnmappableRecord(
            f"deal {deal_id} c2c_change_type {deal.c2c_change_type!r} is not one of {', '.join(AMENDMENT_KINDS)}"
        )
    currency = currency_of(deal_id, deal)
    effective = deal.c2c_effective_date or deal.closedate
    if effective is None:
        raise UnmappableRecord(f"deal {deal_id} c2c_effective_date and closedate are empty")
    modified = deal.hs_lastmodifieddate
    if modified is None or modified.tzinfo is None:
        raise UnmappableRecord(f"deal {deal_id} has no hs_lastmodifieddate with a time zone")
    original = _required(deal.c2c_contract_deal_id, f"deal {deal_id} c2c_contract_deal_id")
    term = _whole(deal.c2c_term_months, f"deal {deal_id} c2c_term_months") if kind is AmendmentKind.RENEWAL else None
    return Amendment(
        crm=SYSTEM,
        deal_id=deal_id,
        contract_id=original,  # the contract lives on the original deal: its id is the deal's
        original_deal_id=original,
        kind=kind,
        effective_date=effective,
        currency=currency,
        lines=[amendment_line(line_id, line, currency) for line_id, line in lines],
        term_months=term,
        modified_at=modified,
    )


def company_ref_properties(refs: dict[str, str]) -> dict[str, str]:
    """Company property values for write-back; raises KeyError naming an unknown ref key."""
    unknown = sorted(set(refs) - set(COMPANY_REF_PROPERTIES))
    if unknown:
        raise KeyError(f"unknown ref keys {unknown} (known: {', '.join(COMPANY_REF_PROPERTIES)})")
    return {COMPANY_REF_PROPERTIES[key]: value for key, value in refs.items()}


def crm_deal(deal_id: str, deal: DealProperties, company_id: str | None) -> CrmDeal:
    """A closed-won deal for reconciliation; an amount in a currency we cannot bill stays unknown."""
    amount = None
    if deal.amount is not None and deal.deal_currency_code:
        try:
            amount = Money.from_decimal(deal.amount, deal.deal_currency_code).amount
        except (ValueError, InvalidOperation):
            amount = None
    return CrmDeal(
        deal_id=deal_id,
        account_id=company_id,
        legal_entity=deal.c2c_legal_entity,
        currency=deal.deal_currency_code,
        amount=amount,
        close_date=deal.closedate,
        modified_at=deal.hs_lastmodifieddate or datetime.min.replace(tzinfo=UTC),
        contract_id=deal.c2c_contract_deal_id,
    )


def crm_account(company_id: str, company: CompanyProperties) -> CrmAccount:
    """A company's master data for reconciliation; an incomplete address is compared as missing."""
    try:
        billing_address: Address | None = address(company_id, company)
    except (UnmappableRecord, ValueError):
        billing_address = None
    return CrmAccount(
        account_id=company_id,
        golden_id=company.c2c_golden_id,
        fields=CustomerFields(name=company.name, address=billing_address, tax_id=company.c2c_tax_id),
        modified_at=company.hs_lastmodifieddate,
    )


def crm_contract(deal_id: str, deal: DealProperties) -> CrmContract:
    """The contract c2c keeps on a deal; its end date is the last day of the term, as Salesforce's EndDate."""
    term = int(deal.c2c_contract_term_months) if deal.c2c_contract_term_months is not None else None
    end = None
    if deal.c2c_contract_start is not None and term is not None:
        end = (term_end(deal.c2c_contract_start, term) - timedelta(days=1)).date()
    return CrmContract(
        contract_id=deal_id,
        deal_id=deal_id,
        subscription_id=deal.c2c_subscription_id,
        account_id=deal.c2c_contract_company_id,
        status=deal.c2c_contract_status,
        start_date=deal.c2c_contract_start,
        end_date=end,
        term_months=term,
        ended_on=deal.c2c_contract_ended_on,
    )
