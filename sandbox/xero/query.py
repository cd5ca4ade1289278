"""Xero's query side: `where` filters, `/Date(ms+0000)/` dates and the lenient date input Xero accepts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

Record = dict[str, Any]


class QueryError(ValueError):
    """A `where` the emulator cannot read: Xero answers QueryParseException."""


# One clause: Field=="value", Field==Guid("value"), Field!="value" or Field.StartsWith("value") / .Contains(...).
_CLAUSE = re.compile(
    r'^\s*(?P<field>[A-Za-z][A-Za-z0-9.]*?)\s*(?:(?P<op>==|!=)\s*(?:Guid\()?"(?P<value>(?:[^"\\]|\\.)*)"\)?'
    r'|\.(?P<method>StartsWith|Contains|EndsWith)\("(?P<arg>(?:[^"\\]|\\.)*)"\))\s*$'
)
_JOIN = re.compile(r"\s+AND\s+|\s*&&\s*")


def matcher(where: str | None) -> Any:
    """A predicate over records for a `where` of clauses joined by AND / && (what c2c and the SDK send)."""
    if not where:
        return lambda record: True
    tests = []
    for clause in _JOIN.split(where):
        match = _CLAUSE.match(clause)
        if not match:
            raise QueryError(f"cannot parse the where clause {clause!r}")
        path = match["field"].split(".")
        if match["op"]:
            value, negate = _unescape(match["value"]), match["op"] == "!="
            tests.append(lambda r, p=path, v=value, n=negate: (_get(r, p) == v) != n)
        else:
            arg, method = _unescape(match["arg"]), match["method"]
            tests.append(lambda r, p=path, a=arg, m=method: _text_test(_get(r, p), m, a))
    return lambda record: all(test(record) for test in tests)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _get(record: Any, path: list[str]) -> Any:
    for name in path:
        record = record.get(name) if isinstance(record, dict) else None
    return record


def _text_test(value: Any, method: str, arg: str) -> bool:
    if not isinstance(value, str):
        return False
    return {"StartsWith": value.startswith, "Contains": value.__contains__, "EndsWith": value.endswith}[method](arg)


def ms_date(moment: datetime | date) -> str:
    """Xero's JSON date: milliseconds since the epoch and the offset."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


_MS = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_date(value: Any) -> date | None:
    """A request's date: YYYY-MM-DD, an ISO date-time, or `/Date(ms)/` (the SDK's form); None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    match = _MS.match(value)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC).date()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def parse_since(value: str | None) -> datetime | None:
    """The `If-Modified-Since` header (ISO 8601; naive means UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
