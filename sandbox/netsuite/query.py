"""Record collection filtering (`GET /record/v1/{type}?q=...`), the subset c2c's reconciler uses.

`q` is conditions `field OPERATOR value` joined by AND (NetSuite also takes OR and parentheses; the emulator
does not). Values are bare words or "double-quoted". Operators, as NetSuite names them:
  strings and references (compared by id): IS, IS_NOT, START_WITH, ANY_OF (comma-separated values)
  numbers: EQUAL, GREATER, GREATER_OR_EQUAL, LESS, LESS_OR_EQUAL
  dates and datetimes (compared by day): ON, AFTER, ON_OR_AFTER, BEFORE, ON_OR_BEFORE; a date value is written
  as the account's date preference, M/D/YYYY (ISO YYYY-MM-DD is accepted too)
A condition on a field the record does not have, or a malformed query, answers 400 INVALID_PARAMETER.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.netsuite.state import NetSuiteError, Record

_CONDITION = re.compile(r'\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<op>[A-Z_]+)\s+(?P<value>"[^"]*"|[^\s"]+)\s*')
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")

Predicate = Callable[[Record], bool]


def invalid(detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_PARAMETER", f"Invalid query: {detail}")


def _day(value: str) -> date:
    match = _US_DATE.match(value)
    try:
        if match:
            month, day, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(value[:10])
    except ValueError:
        raise invalid(f"{value!r} is not a date (M/D/YYYY)") from None


def _scalar(value: Any) -> Any:
    """References compare by their internal id."""
    return value.get("id") if isinstance(value, dict) else value


def _number(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise invalid(f"{value!r} is not a number") from None


def _condition(field: str, op: str, value: str) -> Predicate:
    """One condition as a predicate on a record."""
    text_ops: dict[str, Callable[[str, str], bool]] = {
        "IS": lambda stored, wanted: stored == wanted,
        "IS_NOT": lambda stored, wanted: stored != wanted,
        "START_WITH": lambda stored, wanted: stored.startswith(wanted),
        "ANY_OF": lambda stored, wanted: stored in wanted.split(","),
    }
    number_ops: dict[str, Callable[[Decimal, Decimal], bool]] = {
        "EQUAL": lambda stored, wanted: stored == wanted,
        "GREATER": lambda stored, wanted: stored > wanted,
        "GREATER_OR_EQUAL": lambda stored, wanted: stored >= wanted,
        "LESS": lambda stored, wanted: stored < wanted,
        "LESS_OR_EQUAL": lambda stored, wanted: stored <= wanted,
    }
    date_ops: dict[str, Callable[[date, date], bool]] = {
        "ON": lambda stored, wanted: stored == wanted,
        "AFTER": lambda stored, wanted: stored > wanted,
        "ON_OR_AFTER": lambda stored, wanted: stored >= wanted,
        "BEFORE": lambda stored, wanted: stored < wanted,
        "ON_OR_BEFORE": lambda stored, wanted: stored <= wanted,
    }
    if op in text_ops:
        text_check = text_ops[op]
        return lambda record: (stored := _scalar(record.get(field))) is not None and text_check(str(stored), value)
    if op in number_ops:
        number_check, wanted_number = number_ops[op], _number(value)
        return lambda record: (
            (stored := record.get(field)) is not None and number_check(Decimal(str(stored)), wanted_number)
        )
    if op in date_ops:
        date_check, wanted_day = date_ops[op], _day(value)
        return lambda record: (stored := record.get(field)) is not None and date_check(_day(str(stored)), wanted_day)
    raise invalid(f"unknown operator {op}")


def parse(q: str, fields: set[str]) -> Predicate:
    """The predicate of a `q` parameter over records that have `fields`."""
    predicates: list[Predicate] = []
    for part in re.split(r"\s+AND\s+", q.strip()):
        if re.search(r"\s+OR\s+|[()]", part):
            raise invalid("OR and parentheses are not supported by the emulator")
        match = _CONDITION.fullmatch(part)
        if match is None:
            raise invalid(f"cannot read condition {part!r}")
        field, op, value = match["field"], match["op"], match["value"].strip('"')
        if field not in fields:
            raise invalid(f"unknown field {field!r}")
        predicates.append(_condition(field, op, value))
    return lambda record: all(predicate(record) for predicate in predicates)


def stamp(moment: datetime) -> str:
    """A datetime field as the REST API writes it (UTC, seconds)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
