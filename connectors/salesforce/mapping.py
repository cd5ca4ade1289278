"""Salesforce records <-> canonical objects; every refusal names the Salesforce field at fault."""

from __future__ import annotations

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
from canonical.records import CrmAccount, CrmDeal, CustomerFields
from connectors.crm_fields import COUNTRY, UnmappableRecord, money
from connectors.crm_fields import currency as known_currency
from connectors.crm_fields import required as _required
from connectors.crm_fields import whole as _whole
from connectors.salesforce.wire import (
    AccountRecord,
    AccountSnapshotRecord,
    AmendmentRecord,
    ClosedWonRecord,
    ContractRecord,
    LineItemRecord,
    OpportunityRecord,
)

SYSTEM = "salesforce"
CLOSED_WON = "Closed Won"
BILLING_PERIODS = {"Monthly": BillingPeriod.MONTH, "Annual": BillingPeriod.YEAR}
# write_back_account ref key -> Account field.
ACCOUNT_REF_FIELDS = {
    "golden_id": "C2C_Golden_Id__c",
    "billing_id": "Billing_Customer_Id__c",
    "erp_id": "ERP_Customer_Id__c",
}
# Opportunity.Type -> what the won opportunity does to the contract it references (ContractId).
AMENDMENT_KINDS = {
    "Existing Customer - Upgrade": AmendmentKind.AMENDMENT,
    "Existing Customer - Downgrade": AmendmentKind.AMENDMENT,
    "Existing Customer - Replacement": AmendmentKind.AMENDMENT,
    "Renewal": AmendmentKind.RENEWAL,
    "Cancellation": AmendmentKind.CANCELLATION,
}


def currency_of(opportunity: OpportunityRecord) -> str:
    return known_currency(opportunity.CurrencyIsoCode, "Opportunity.CurrencyIsoCode")


def address(account: AccountRecord) -> Address:
    parts = {
        "BillingStreet": account.BillingStreet,
        "BillingCity": account.BillingCity,
        "BillingPostalCode": account.BillingPostalCode,
        "BillingCountry": account.BillingCountry,
    }
    missing = [name for name, value in parts.items() if value is None or not value.strip()]
    if missing:
        raise UnmappableRecord(f"Account {account.Id} billing address is incomplete: missing {', '.join(missing)}")
    country = (account.BillingCountry or "").strip()
    if not COUNTRY.match(country):
        raise UnmappableRecord(f"Account.BillingCountry {country!r} is not an ISO-3166 alpha-2 code")
    # BillingStreet is a textarea: its first line is line 1, the rest line 2.
    line1, _, line2 = (account.BillingStreet or "").strip().partition("\n")
    return Address(
        line1=line1.strip(),
        line2=" ".join(line2.split()) or None,
        city=(account.BillingCity or "").strip(),
        region=(account.BillingState or "").strip() or None,
        postal_code=(account.BillingPostalCode or "").strip(),
        country=country,
    )


def customer(account: AccountRecord) -> Customer:
    return Customer(
        golden_id=account.C2C_Golden_Id__c or None,
        legal_name=_required(account.Name, "Account.Name"),
        tax_id=account.Tax_Id__c or None,
        email=account.Billing_Email__c or None,
        address=address(account),
        external_refs={SYSTEM: account.Id},
    )


def account_snapshot(account: AccountSnapshotRecord) -> AccountSnapshot:
    if account.SystemModstamp is None or account.SystemModstamp.tzinfo is None:
        raise UnmappableRecord(f"Account {account.Id} has no SystemModstamp with a time zone")
    return AccountSnapshot(customer=customer(account), modified_at=account.SystemModstamp)


def deal_line(line: LineItemRecord, currency: str) -> DealLine:
    where = f"OpportunityLineItem {line.Id}"
    quantity = _whole(line.Quantity, f"{where} Quantity")
    if quantity <= 0:
        raise UnmappableRecord(f"{where} Quantity must be positive, got {quantity}")
    unit_price = money(line.UnitPrice, currency, f"{where} UnitPrice")
    if unit_price.is_negative:
        raise UnmappableRecord(f"{where} UnitPrice is negative ({line.UnitPrice})")
    return DealLine(
        product_code=_required(line.ProductCode, f"{where} ProductCode"),
        description=line.Description or None,
        quantity=quantity,
        unit_price=unit_price,
    )


def to_deal(opportunity: OpportunityRecord, account: AccountRecord, lines: list[LineItemRecord]) -> Deal:
    """The canonical Deal; raises UnmappableRecord (or pydantic's ValidationError) when it cannot be one."""
    currency = currency_of(opportunity)
    if not lines:
        raise UnmappableRecord(f"Opportunity {opportunity.Id} has no line items")
    period = BILLING_PERIODS.get(opportunity.Billing_Period__c or "")
    if period is None:
        raise UnmappableRecord(
            f"Opportunity.Billing_Period__c {opportunity.Billing_Period__c!r} is not Monthly or Annual"
        )
    if opportunity.CloseDate is None:
        raise UnmappableRecord("Opportunity.CloseDate is empty")
    stage = _required(opportunity.StageName, "Opportunity.StageName")
    return Deal(
        crm=SYSTEM,
        deal_id=opportunity.Id,
        name=_required(opportunity.Name, "Opportunity.Name"),
        stage=stage,
        closed_won=stage == CLOSED_WON,
        close_date=opportunity.CloseDate,
        currency=currency,
        legal_entity=_required(opportunity.Legal_Entity__c, "Opportunity.Legal_Entity__c"),
        term_months=_whole(opportunity.Term_Months__c, "Opportunity.Term_Months__c"),
        billing_period=period,
        customer=customer(account),
        lines=[deal_line(line, currency) for line in lines],
    )


def amendment_line(line: LineItemRecord, currency: str) -> AmendmentLine:
    """A line item of an amendment: its Quantity is the change (nonzero, negative for a reduction)."""
    where = f"OpportunityLineItem {line.Id}"
    return AmendmentLine(
        product_code=_required(line.ProductCode, f"{where} ProductCode"),
        quantity_change=_whole(line.Quantity, f"{where} Quantity"),
        unit_price=money(line.UnitPrice, currency, f"{where} UnitPrice"),
    )


def amendment_kind(opportunity: AmendmentRecord) -> AmendmentKind:
    kind = AMENDMENT_KINDS.get(opportunity.Type or "")
    if kind is None:
        raise UnmappableRecord(
            f"Opportunity.Type {opportunity.Type!r} of an opportunity with a ContractId is not one of "
            f"{', '.join(repr(name) for name in AMENDMENT_KINDS)}"
        )
    return kind


def to_amendment(opportunity: AmendmentRecord, contract: ContractRecord, lines: list[LineItemRecord]) -> Amendment:
    """The canonical Amendment of a won opportunity on a c2c contract; raises UnmappableRecord (or pydantic's
    ValidationError) when it cannot be one."""
    kind = amendment_kind(opportunity)
    currency = currency_of(opportunity)
    effective = opportunity.Effective_Date__c or opportunity.CloseDate
    if effective is None:
        raise UnmappableRecord("Opportunity.Effective_Date__c and CloseDate are empty")
    if opportunity.SystemModstamp is None or opportunity.SystemModstamp.tzinfo is None:
        raise UnmappableRecord(f"Opportunity {opportunity.Id} has no SystemModstamp with a time zone")
    term = None
    if kind is AmendmentKind.RENEWAL:
        term = _whole(opportunity.Term_Months__c, "Opportunity.Term_Months__c")
    return Amendment(
        crm=SYSTEM,
        deal_id=opportunity.Id,
        contract_id=contract.Id,
        original_deal_id=_required(contract.C2C_Deal_Id__c, f"Contract {contract.Id} C2C_Deal_Id__c"),
        kind=kind,
        effective_date=effective,
        currency=currency,
        lines=[amendment_line(line, currency) for line in lines],
        term_months=term,
        modified_at=opportunity.SystemModstamp,
    )


def account_ref_fields(refs: dict[str, str]) -> dict[str, str]:
    """Account field values for write-back; raises KeyError naming an unknown ref key."""
    unknown = sorted(set(refs) - set(ACCOUNT_REF_FIELDS))
    if unknown:
        raise KeyError(f"unknown ref keys {unknown} (known: {', '.join(ACCOUNT_REF_FIELDS)})")
    return {ACCOUNT_REF_FIELDS[key]: value for key, value in refs.items()}


def crm_deal(record: ClosedWonRecord) -> CrmDeal:
    """A closed-won opportunity for reconciliation; an amount in a currency we cannot bill stays unknown."""
    amount = None
    if record.Amount is not None and record.CurrencyIsoCode:
        try:
            amount = Money.from_decimal(record.Amount, record.CurrencyIsoCode).amount
        except ValueError:
            amount = None
    return CrmDeal(
        deal_id=record.Id,
        account_id=record.AccountId,
        legal_entity=record.Legal_Entity__c,
        currency=record.CurrencyIsoCode,
        amount=amount,
        close_date=record.CloseDate,
        modified_at=record.LastModifiedDate,
        contract_id=record.ContractId,
    )


def crm_account(record: AccountSnapshotRecord) -> CrmAccount:
    """An account's master data for reconciliation; an incomplete address is compared as missing."""
    try:
        billing_address: Address | None = address(record)
    except (UnmappableRecord, ValueError):
        billing_address = None
    return CrmAccount(
        account_id=record.Id,
        golden_id=record.C2C_Golden_Id__c or None,
        fields=CustomerFields(name=record.Name, address=billing_address, tax_id=record.Tax_Id__c or None),
        modified_at=record.SystemModstamp,
    )
