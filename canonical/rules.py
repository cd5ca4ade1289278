"""Checks a deal must pass before c2c will bill it; shared by the trigger API and the saga."""

from __future__ import annotations

from canonical.contract import Deal
from canonical.reference import CATALOG, LEGAL_ENTITIES


def deal_problems(deal: Deal) -> list[tuple[str, str]]:
    """(code, readable reason) for each rule the deal breaks; empty when it can be billed."""
    problems: list[tuple[str, str]] = []
    if not deal.closed_won:
        problems.append(("deal_not_closed", f"deal {deal.deal_id} is in stage {deal.stage!r}, not closed-won"))
    entity = LEGAL_ENTITIES.get(deal.legal_entity)
    if entity is None:
        known = ", ".join(sorted(LEGAL_ENTITIES))
        problems.append(("unknown_legal_entity", f"legal entity {deal.legal_entity!r} is not one of {known}"))
    elif deal.currency not in entity.currencies:
        problems.append(
            (
                "unsupported_currency",
                f"{entity.code} does not invoice in {deal.currency} (it invoices in {', '.join(entity.currencies)})",
            )
        )
    for line in deal.lines:
        try:
            CATALOG.product(line.product_code)
        except KeyError:
            problems.append(("unknown_product", f"product code {line.product_code!r} is not in the catalog"))
    products = [CATALOG.products_by_code.get(line.product_code) for line in deal.lines]
    for line in [*deal.lines, *deal.usage_lines]:
        product = CATALOG.products_by_code.get(line.product_code)
        if product is not None and product.meter and line.quantity != 1:
            problems.append(
                (
                    "usage_line_quantity",
                    f"{line.product_code} is usage-priced: enter it with quantity 1 at its price per unit "
                    f"(quantity {line.quantity}); billing bills the usage",
                )
            )
    if all(product is not None and product.meter for product in products):
        problems.append(
            (
                "usage_only_deal",
                "every line is usage-priced: a subscription needs at least one line priced per period",
            )
        )
    return problems
