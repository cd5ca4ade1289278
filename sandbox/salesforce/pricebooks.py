"""Products and price books as Salesforce keeps them, and what they mean for opportunity line items.

Every org has one standard price book (`IsStandard`, seeded; no other can be made standard). A product is priced per
price book and currency by a `PricebookEntry`; an entry in a custom price book needs the product's standard price in
that currency first, and a price book holds one entry per product and currency. A line item names an entry: its
product, product code and name follow from it; the entry must be active, in the opportunity's currency and in the
opportunity's price book, which the first such line sets when the opportunity has none.
"""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.schema import (
    DEFAULT_CURRENCY,
    OPPORTUNITY,
    OPPORTUNITY_LINE_ITEM,
    PRICEBOOK,
    PRICEBOOK_ENTRY,
    PRODUCT,
    ObjectSpec,
)

Record = dict[str, Any]
Records = dict[str, dict[str, Record]]

STANDARD_PRICEBOOK_NAME = "Standard Price Book"


def _integrity(problem: str, field: str) -> ApiError:
    """Salesforce's wording for a line item whose entry does not fit: `field integrity exception: F (problem)`."""
    return ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {field} ({problem})", [field])


def standard_pricebook(records: Records) -> Record | None:
    return next((book for book in records[PRICEBOOK.name].values() if book.get("IsStandard")), None)


def check(records: Records, spec: ObjectSpec, changes: Record, record: Record) -> None:
    """Derive the read-only fields of an entry or a line item from what it references, or refuse it as
    Salesforce does. `record` is the merged record about to be saved (changed in place)."""
    if spec is PRICEBOOK_ENTRY:
        _check_entry(records, record)
    elif spec is OPPORTUNITY_LINE_ITEM and record.get("PricebookEntryId"):
        _check_line(records, changes, record)


def _check_entry(records: Records, entry: Record) -> None:
    product = records[PRODUCT.name][entry["Product2Id"]]
    entry["Name"], entry["ProductCode"] = product["Name"], product.get("ProductCode")
    entry["CurrencyIsoCode"] = entry.get("CurrencyIsoCode") or DEFAULT_CURRENCY
    key = (entry["Product2Id"], entry["CurrencyIsoCode"])
    others = [e for e in records[PRICEBOOK_ENTRY.name].values() if e["Id"] != entry["Id"]]
    if any(
        (e["Product2Id"], e["CurrencyIsoCode"]) == key and e["Pricebook2Id"] == entry["Pricebook2Id"] for e in others
    ):
        raise ApiError(400, "DUPLICATE_VALUE", "This price definition already exists in this price book", [])
    standard = standard_pricebook(records)
    if standard is not None and entry["Pricebook2Id"] != standard["Id"]:
        priced = any(
            (e["Product2Id"], e["CurrencyIsoCode"]) == key and e["Pricebook2Id"] == standard["Id"] for e in others
        )
        if not priced:
            raise ApiError(400, "STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", [])


def _check_line(records: Records, changes: Record, line: Record) -> None:
    if "ProductCode" in changes:
        # Salesforce derives it from the entry's product and never takes it on a write.
        raise ApiError(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: ProductCode. Please check the security settings of this field and "
            "verify that it is read/write for your profile or permission set.",
            ["ProductCode"],
        )
    entry = records[PRICEBOOK_ENTRY.name][line["PricebookEntryId"]]
    opportunity = records[OPPORTUNITY.name][line["OpportunityId"]]
    if not entry.get("IsActive"):
        raise _integrity("pricebook entry is inactive", "PricebookEntryId")
    if not records[PRODUCT.name][entry["Product2Id"]].get("IsActive"):
        raise _integrity("pricebook entry is inactive", "PricebookEntryId")  # an inactive product's entries are too
    if entry["CurrencyIsoCode"] != opportunity.get("CurrencyIsoCode"):
        raise _integrity("pricebook entry currency code does not match opportunity currency code", "PricebookEntryId")
    book = opportunity.get("Pricebook2Id")
    if book is not None and book != entry["Pricebook2Id"]:
        raise _integrity(
            "pricebook entry is in a different pricebook than the one assigned to the opportunity", "PricebookEntryId"
        )
    line["Product2Id"], line["ProductCode"] = entry["Product2Id"], entry["ProductCode"]
    line["Name"] = f"{opportunity['Name']} {entry['Name']}"


def assign_pricebook(records: Records, line: Record) -> None:
    """After a line from an entry is saved: the opportunity takes the entry's price book if it had none."""
    entry_id = line.get("PricebookEntryId")
    opportunity = records[OPPORTUNITY.name][line["OpportunityId"]]
    if entry_id and opportunity.get("Pricebook2Id") is None:
        opportunity["Pricebook2Id"] = records[PRICEBOOK_ENTRY.name][entry_id]["Pricebook2Id"]
