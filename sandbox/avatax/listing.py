"""`GET /api/v2/companies/{companyCode}/transactions`: a company's saved documents, filtered and paged.

AvaTax's query options: `$filter` (conditions `field op value` joined by `and`; ops eq ne gt ge lt le; values
'quoted' or bare), `$top` (page size, at most 1000), `$skip`, `$include=Lines` (lines are left out otherwise).
Filterable here: id, code, type, status, customerCode, currencyCode, date, modifiedDate. The answer is
`{"@recordsetCount": total, "value": [...], "@nextLink": url of the next page when there is one}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.avatax.responses import AvaTaxError
from sandbox.avatax.state import AvaTaxState, Document

MAX_TOP = 1000
FILTERABLE = ("id", "code", "type", "status", "customerCode", "currencyCode", "date", "modifiedDate")
_CONDITION = re.compile(r"\s*(?P<field>\w+)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+(?P<value>'[^']*'|\S+)\s*", re.IGNORECASE)
_OPS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def bad_filter(message: str) -> AvaTaxError:
    return AvaTaxError.single(
        400, "InvalidFilter", 26, "Invalid $filter.", message, target="IncorrectData", refers_to="$filter"
    )


def parse_filter(text: str | None) -> Callable[[dict[str, Any]], bool]:
    """Conditions compare as text: dates and timestamps are ISO 8601, so text order is time order."""
    if not text:
        return lambda _: True
    checks: list[tuple[str, Callable[[str, str], bool], str]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CONDITION.fullmatch(part)
        if match is None:
            raise bad_filter(f"cannot read condition {part!r} (the emulator takes `field op value` joined by and)")
        field = next((name for name in FILTERABLE if name.lower() == match["field"].lower()), None)
        if field is None:
            raise bad_filter(f"field {match['field']!r} cannot be filtered on; use one of {', '.join(FILTERABLE)}")
        checks.append((field, _OPS[match["op"].lower()], match["value"].strip("'")))
    return lambda model: all(check(str(model.get(field)), value) for field, check, value in checks)


def list_documents(
    state: AvaTaxState,
    company_code: str,
    *,
    filter_text: str | None,
    top: int,
    skip: int,
    include: str,
    next_link: Callable[[int], str],
) -> dict[str, Any]:
    """One page of the company's documents, oldest first; `next_link(skip)` is the URL of a later page."""
    if not 1 <= top <= MAX_TOP or skip < 0:
        raise bad_filter(f"$top must be 1-{MAX_TOP} and $skip not negative")
    accepted = parse_filter(filter_text)
    with_lines = "lines" in include.lower()
    documents: list[Document] = sorted(
        (doc for (company, _), doc in state.documents.items() if company == company_code), key=lambda doc: doc.id
    )
    models = [doc.model() for doc in documents]
    found = [model for model in models if accepted(model)]
    page = found[skip : skip + top]
    if not with_lines:
        page = [{k: v for k, v in model.items() if k != "lines"} for model in page]
    body: dict[str, Any] = {"@recordsetCount": len(found), "value": page}
    if skip + top < len(found):
        body["@nextLink"] = next_link(skip + top)
    return body
